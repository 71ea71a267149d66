"""Splitting encoder batches into the cheapest fixed-shape chunks."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.server.chunking import ChunkPlan, encode_in_chunks, time_buckets


def test_full_buckets_are_used_when_they_are_cheaper_per_image():
    plan = ChunkPlan({1: 1.0, 8: 4.0, 64: 20.0}, max_batch=64)
    assert plan.chunks(1) == [1]
    assert sorted(plan.chunks(9)) == [1, 8]
    assert plan.chunks(64) == [64]
    assert plan.cost(9) == pytest.approx(5.0)


def test_single_calls_win_when_a_bucket_is_dearer_than_its_singles():
    plan = ChunkPlan({1: 1.0, 8: 10.0, 64: 100.0}, max_batch=64)
    assert plan.chunks(9) == [1] * 9


def test_a_part_full_bucket_is_used_when_that_is_cheapest():
    plan = ChunkPlan({1: 1.0, 8: 2.0, 64: 20.0}, max_batch=64)
    assert plan.chunks(5) == [5]  # one padded call of 8 costs 2, five singles cost 5


@pytest.mark.parametrize("n", [1, 7, 63, 64, 65, 200])
def test_chunks_always_cover_the_batch_even_past_max_batch(n):
    plan = ChunkPlan({1: 1.0, 8: 3.0, 64: 16.0}, max_batch=64)
    assert sum(plan.chunks(n)) == n


def test_encoding_in_chunks_keeps_the_order_of_images():
    images = np.arange(13 * 2 * 2 * 3, dtype=np.uint8).reshape(13, 2, 2, 3)
    seen: list[int] = []

    def embed(batch: np.ndarray) -> np.ndarray:
        seen.append(len(batch))
        return batch.reshape(len(batch), -1)[:, :1].astype(np.float32)

    plan = ChunkPlan({1: 1.0, 8: 4.0}, max_batch=16)
    out = encode_in_chunks(embed, images, plan)
    assert sorted(seen) == sorted(plan.chunks(13)) and len(seen) > 1
    np.testing.assert_array_equal(out[:, 0], images.reshape(13, -1)[:, 0])


def test_bucket_timing_calls_each_bucket_with_its_shape():
    shapes = []

    def embed(batch: np.ndarray) -> np.ndarray:
        shapes.append(batch.shape)
        return np.zeros((len(batch), 4), np.float32)

    costs = time_buckets(embed, (1, 8), size=4, repeats=2)
    assert set(costs) == {1, 8} and all(c >= 0 for c in costs.values())
    assert set(shapes) == {(1, 4, 4, 3), (8, 4, 4, 3)}
