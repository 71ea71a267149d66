"""Encoding a batch in the cheapest chunks of the embedder's fixed batch shapes.

The embedder pads every call up to a fixed bucket (1, 8 or 64 images). A batch of 9
would pay for 64; on a small CPU even a full bucket of 8 may cost more than 8 single
calls. So the server times each bucket once at startup and splits every batch into the
chunk sizes with the least total measured cost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import numpy as np

logger = logging.getLogger(__name__)


def time_buckets(
    embed: Callable[[np.ndarray], np.ndarray], buckets: Sequence[int], size: int,
    repeats: int = 3,
) -> dict[int, float]:
    """The best of `repeats` timings of one call per bucket size (best: least disturbed)."""
    costs = {}
    for bucket in buckets:
        batch = np.zeros((bucket, size, size, 3), np.uint8)
        embed(batch)  # compiled already; this warms caches
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            embed(batch)
            best = min(best, time.perf_counter() - start)
        costs[bucket] = best
    return costs


class ChunkPlan:
    """For each batch size n, the chunk sizes whose summed bucket costs are least."""

    def __init__(self, costs: dict[int, float], max_batch: int) -> None:
        self.costs = dict(costs)
        buckets = sorted(costs)
        # best[n]: (cost, first chunk) for n images; a chunk of c < bucket b costs b.
        best: list[tuple[float, int]] = [(0.0, 0)]
        for n in range(1, max_batch + 1):
            options = []
            for b in buckets:
                c = min(b, n)
                options.append((costs[b] + best[n - c][0], c))
                if b >= n:
                    break  # a larger bucket costs more for the same images
            best.append(min(options))
        self._best = best

    def chunks(self, n: int) -> list[int]:
        """Chunk sizes summing to n (any n: past the planned range, in planned blocks)."""
        out = []
        top = len(self._best) - 1
        while n > 0:
            m = min(n, top)
            while m > 0:
                c = self._best[m][1]
                out.append(c)
                m -= c
                n -= c
        return out

    def cost(self, n: int) -> float:
        return self._best[min(n, len(self._best) - 1)][0]


def encode_in_chunks(
    embed: Callable[[np.ndarray], np.ndarray], images: np.ndarray, plan: ChunkPlan
) -> np.ndarray:
    """embed(images), called once per planned chunk."""
    parts = []
    start = 0
    for size in plan.chunks(len(images)):
        parts.append(embed(images[start : start + size]))
        start += size
    return parts[0] if len(parts) == 1 else np.concatenate(parts)
