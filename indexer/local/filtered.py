"""Filtered search over the per-cluster flat indexes: a Faiss IDSelector plus a planner.

The planner (after Qdrant's: the payload index's cardinality decides the plan) compares
how many images match with the scan budget of an unfiltered search, the rows in the
nprobe clusters nearest the query:

- at most the budget match: exact, every matching image is scored (the clusters holding
  matches are scanned, the selector skipping the rest), so a rare label still gets its k
  nearest;
- more match: the clusters are scanned nearest first until they hold budget matches (and
  at least k), so a filtered search scores about as many images as an unfiltered one and
  reaches a similar recall, and a full k answers whenever k images match.

The selector is an IDSelectorBitmap over row numbers, handed to Faiss's IVFFlat list
scanner (the unfiltered single-query path, see ClusterIndexes._search_one), which tests
each stored row number before computing its distance: the labels our indexes give Faiss
are row numbers already, so no position translation is needed.
"""

from __future__ import annotations

from typing import NamedTuple

import faiss
import numpy as np
from faiss import swig_ptr

from lookalike.indexer.local.cluster_indexes import ClusterIndexes


class Selection(NamedTuple):
    """What a search needs of a filter's matches: the selector and matches per cluster."""

    rowids: np.ndarray
    bitmap: np.ndarray  # kept alive: the selector points into it
    selector: faiss.IDSelectorBitmap
    per_cluster: np.ndarray  # (nlist,) matches in each cluster


def where(indexes: ClusterIndexes) -> tuple[np.ndarray, np.ndarray]:
    """(every row number, ascending; each one's cluster), cached until the indexes change."""
    got = indexes.cache.get("where")
    if got is None:
        rows = [r[:-1] for r in indexes.rows]
        all_rows = np.concatenate(rows) if rows else np.empty(0, np.int64)
        clusters = np.repeat(np.arange(len(rows)), [len(r) for r in rows])
        order = np.argsort(all_rows, kind="stable")
        got = (all_rows[order], clusters[order])
        indexes.cache["where"] = got
    return got


def select(indexes: ClusterIndexes, rowids: np.ndarray) -> Selection:
    """The Selection of sorted matching row numbers; rows no longer held are left out.
    Cached by array (a filter's cached matches are one array, kept alive by the Selection,
    so its id is not reused while cached) until the indexes change."""
    cache = indexes.cache.setdefault("selections", {})
    cached = cache.get(id(rowids))
    if cached is not None and cached.rowids is rowids:
        return cached
    held, clusters = where(indexes)
    pos = np.searchsorted(held, rowids)
    pos[pos >= len(held)] = 0
    present = held[pos] == rowids if len(held) else np.zeros(len(rowids), bool)
    kept = rowids[present]
    top = int(kept[-1]) + 1 if len(kept) else 1
    bits = np.zeros(-(-top // 8) * 8, bool)
    bits[kept] = True
    bitmap = np.packbits(bits, bitorder="little")
    selector = faiss.IDSelectorBitmap(len(bitmap), swig_ptr(bitmap))
    per_cluster = np.bincount(clusters[pos[present]], minlength=indexes.nlist)
    got = Selection(rowids, bitmap, selector, per_cluster)
    if len(cache) >= 32:
        cache.pop(next(iter(cache)))
    cache[id(rowids)] = got
    return got


def plan(indexes: ClusterIndexes, query: np.ndarray, k: int, nprobe: int,
         selection: Selection) -> tuple[np.ndarray, np.ndarray]:
    """(clusters to scan, the query's nearest cluster as a (1, 1) array)."""
    per = selection.per_cluster
    matched = int(per.sum())
    nearest = indexes.quantizer.search(query, indexes.nlist)[1][0]
    sizes = np.array([len(r) - 1 for r in indexes.rows])
    budget = max(int(sizes[nearest[:nprobe]].sum()), k)
    if matched <= budget:
        return np.flatnonzero(per), nearest[None, :1]
    holding = nearest[per[nearest] > 0]
    enough = int(np.searchsorted(np.cumsum(per[holding]), budget)) + 1
    return holding[:enough], nearest[None, :1]


def search_selected(indexes: ClusterIndexes, queries: np.ndarray, k: int, nprobe: int,
                    rowids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(distances (n, k), row numbers (n, k), nearest cluster (n, 1)) over the rows named by
    sorted rowids only; the plan is the module docstring's."""
    n = len(queries)
    distances = np.full((n, k), np.inf, np.float32)
    labels = np.full((n, k), -1, np.int64)
    probe = np.full((n, 1), -1, np.int64)
    selection = select(indexes, rowids)
    scanner = indexes._scanner_source.get_InvertedListScanner(False, selection.selector, None)
    for i in range(n):
        query = np.ascontiguousarray(queries[i : i + 1])
        scan, probe[i] = plan(indexes, query, k, nprobe, selection)
        if not len(scan):
            continue
        d, rows = distances[i], labels[i]
        scanner.set_query(swig_ptr(query))
        heap_d, heap_i = swig_ptr(d), swig_ptr(rows)
        for c in scan.tolist():
            size, codes, row_ptr, _, _ = indexes._lists[c]
            scanner.scan_codes(size, codes, row_ptr, heap_d, heap_i, k)
        order = np.lexsort((rows, d))  # the heap's order; ties: lower row number first
        distances[i], labels[i] = d[order], rows[order]
    return distances, labels, probe
