"""A batch of searches within each query's probed clusters, as few Milvus requests as the
batch's distinct probe sets, sent side by side."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from lookalike.indexer.milvus.address import milvus_errors
from lookalike.indexer.milvus.payloads import both
from lookalike.indexer.milvus.store import IMAGES, MilvusVectors

REQUEST_THREADS = 16  # Milvus requests of one batched search in flight at once


_requests: ThreadPoolExecutor | None = None
_requests_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """One pool for the Milvus requests of batched searches (they wait on the network)."""
    global _requests
    with _requests_lock:
        if _requests is None:
            _requests = ThreadPoolExecutor(REQUEST_THREADS, "lookalike-milvus")
        return _requests


def search_grouped(view: MilvusVectors, queries: np.ndarray, probes: np.ndarray | None,
                   k: int, where: str = "") -> tuple[np.ndarray, list[list[dict[str, Any]]]]:
    """Each query's k nearest rows within its probed clusters (n, nprobe) that the
    expression where matches (probes None: in every cluster).

    Returns (n, k) squared-L2 distances (inf where fewer than k rows) and, per query,
    its hits' rows nearest first. Queries that probe the same clusters go to Milvus
    together as one request. Milvus applies where before it ranks, so the hits are the
    k nearest that match.
    """
    if probes is None:
        probes = np.full((len(queries), 1), -1, np.int64)  # one group: every image
    n = len(queries)
    distances = np.full((n, k), np.inf, np.float32)
    rows: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, probe in enumerate(np.sort(probes, axis=1)):
        groups.setdefault(tuple(int(c) for c in probe), []).append(i)

    def one(clusters: tuple[int, ...], members: list[int]) -> None:
        within = IMAGES if clusters == (-1,) else f"cluster in {list(clusters)}"
        found = view.client.search(
            view.name, data=[queries[i].tolist() for i in members], limit=k,
            filter=both(within, where), output_fields=view._fields()[1:],
            search_params={"metric_type": "L2"},
            consistency_level=view.address.consistency)
        for i, hits in zip(members, found, strict=True):
            for j, hit in enumerate(hits):
                distances[i, j] = hit["distance"]
                rows[i].append({"id": hit["id"], **hit["entity"]})

    with milvus_errors(view.address):
        if len(groups) == 1:
            one(*next(iter(groups.items())))
        else:  # a batch of queries with different probes: its requests side by side
            for future in [_pool().submit(one, c, m) for c, m in groups.items()]:
                future.result()
    return distances, rows
