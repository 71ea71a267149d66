"""Embedder: rows make a bulk run's vectors independent of how it is split."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.encoder.embed import Embedder
from lookalike.encoder.pretrained import load_base


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder(load_base())


def test_vectors_at_their_rows_are_the_same_however_the_run_is_split(embedder):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (150, 64, 64, 3), dtype=np.uint8)
    rows = np.delete(np.arange(153), [7, 64, 100])  # skipped rows leave gaps
    whole = embedder(images, rows=rows)
    parts = np.empty_like(whole)
    order = rng.permutation(150)  # shuffled, in uneven calls that cut windows in two
    for picked in np.split(order, [5, 70, 71, 140]):
        parts[picked] = embedder(images[picked], rows=rows[picked])
    assert np.array_equal(parts, whole)
    # The same program as a plain call's full chunks: close, not necessarily equal bits.
    np.testing.assert_allclose(whole, embedder(images), atol=1e-6)


def test_rows_must_be_one_per_image_and_distinct(embedder):
    images = np.zeros((2, 64, 64, 3), np.uint8)
    with pytest.raises(ValueError, match="2 distinct rows"):
        embedder(images, rows=np.array([3, 3]))
    with pytest.raises(ValueError, match="2 distinct rows"):
        embedder(images, rows=np.array([1]))
