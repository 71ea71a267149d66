"""Filtered search over the per-cluster flat indexes: a planner over the filter's matches.

The planner (after Qdrant's: the payload index's cardinality decides the plan) compares
how many images match with the scan budget of an unfiltered search, the rows in the
nprobe clusters nearest the query:

- at most the budget match: exact, every matching image is scored, so a rare label still
  gets its k nearest wherever they are;
- more match: the clusters holding matches are scanned nearest first until they hold
  WIDEN x budget matches (and at least k), so a filtered search scores about as many
  images as an unfiltered one and reaches a similar recall, and a full k answers whenever
  k images match. Matches crowded into few clusters get WIDEN_CONCENTRATED budgets.

Matches are scanned one of two ways, both with Faiss's IVFFlat list scanner (the
unfiltered single-query path, ClusterIndexes._search_one), whose labels are row numbers:
- compact: each cluster's matching vectors gathered into a list of their own, once per
  filter until the next change (at most COMPACT_BYTES a filter), so a scan computes a
  distance for matches only;
- selector: past that size, an IDSelectorBitmap over row numbers, which the scanner tests
  for every stored row before computing its distance.
"""

from __future__ import annotations

from typing import NamedTuple

import faiss
import numpy as np
from faiss import swig_ptr

from lookalike.indexer.local.cluster_indexes import ClusterIndexes

WIDEN = 1.0  # matches to cover, in unfiltered scan budgets (benchmarks/filter_bench.py)
# The same for a filter whose matches crowd into few clusters (as a real label does): a
# query's nearest matches then often lie at the edge of the region they fill, further in
# centroid order; one budget gave recall@10 0.90 at a 50% clustered label, 1.5 gave 0.98.
WIDEN_CONCENTRATED = 1.5
COMPACT_BYTES = 64 << 20  # the largest compact copy of one filter's vectors
CACHED_BYTES = 256 << 20  # compact copies kept, all filters together


class Selection(NamedTuple):
    """What a search needs of one filter's matches."""

    rowids: np.ndarray  # the matches asked about (held alive: the cache is keyed by its id)
    per_cluster: np.ndarray  # (nlist,) matches in each cluster
    concentrated: bool  # the clusters holding matches are mostly matches
    lists: dict[int, tuple] | None  # compact: cluster -> (n, codes, rows, *arrays kept alive)
    selector: faiss.IDSelectorBitmap | None  # else the bitmap selector
    bitmap: np.ndarray | None  # kept alive: the selector points into it
    nbytes: int


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
    return got  # type: ignore[return-value]


def _sizes(indexes: ClusterIndexes) -> np.ndarray:
    got = indexes.cache.get("sizes")
    if got is None:
        got = indexes.cache["sizes"] = np.array(indexes.sizes(), np.int64)
    return got  # type: ignore[return-value]


def forget_selections(indexes: ClusterIndexes) -> None:
    """Drops every cached selection: labels changed, so no cached filter result is reused,
    and their compact copies should not hold memory until evicted."""
    indexes.cache.pop("selections", None)


def select(indexes: ClusterIndexes, rowids: np.ndarray) -> Selection:
    """The Selection of sorted matching row numbers; rows no longer held are left out.
    Cached by array (a filter's cached matches are one array, kept alive by the Selection,
    so its id is not reused while cached) until the indexes change."""
    cache: dict[int, Selection] = indexes.cache.setdefault("selections", {})  # type: ignore
    cached = cache.get(id(rowids))
    if cached is not None and cached.rowids is rowids:
        return cached
    held, clusters = where(indexes)
    pos = np.minimum(np.searchsorted(held, rowids), max(len(held) - 1, 0))
    present = held[pos] == rowids if len(held) else np.zeros(len(rowids), bool)
    kept, kept_clusters = rowids[present], clusters[pos[present]]
    per_cluster = np.bincount(kept_clusters, minlength=indexes.nlist)
    sizes = _sizes(indexes)
    share = len(kept) / max(int(sizes.sum()), 1)
    # Matches fill the clusters holding them nearer to wholly than to a random spread's
    # share of each.
    density = len(kept) / max(int(sizes[per_cluster > 0].sum()), 1)
    concentrated = density > (1 + share) / 2
    if len(kept) * indexes.dim * 4 <= COMPACT_BYTES:
        lists = _compact(indexes, kept, kept_clusters)
        got = Selection(rowids, per_cluster, concentrated, lists, None, None,
                        len(kept) * indexes.dim * 4)
    else:
        top = int(kept[-1]) + 1 if len(kept) else 1
        bits = np.zeros(-(-top // 8) * 8, bool)
        bits[kept] = True
        bitmap = np.packbits(bits, bitorder="little")
        selector = faiss.IDSelectorBitmap(len(bitmap), swig_ptr(bitmap))
        got = Selection(rowids, per_cluster, concentrated, None, selector, bitmap,
                        len(bitmap))
    while cache and sum(s.nbytes for s in cache.values()) + got.nbytes > CACHED_BYTES:
        cache.pop(next(iter(cache)))
    cache[id(rowids)] = got
    return got


def _compact(indexes: ClusterIndexes, rowids: np.ndarray,
             clusters: np.ndarray) -> dict[int, tuple]:
    """Each cluster's matching vectors and row numbers (then a -1), as scanner lists."""
    lists = {}
    order = np.argsort(clusters, kind="stable")
    cuts = np.flatnonzero(np.diff(clusters[order])) + 1
    for part in np.split(order, cuts):
        if not len(part):
            continue
        c = int(clusters[part[0]])
        stored = indexes.rows[c][:-1]
        # Row numbers within a cluster ascend (rows are only ever appended), but a mask
        # holds whatever the order.
        mask = np.isin(stored, rowids[part], assume_unique=True)
        vectors = np.ascontiguousarray(_vectors(indexes, c)[mask])
        rows = np.append(stored[mask], -1).astype(np.int64)
        lists[c] = (len(rows) - 1, swig_ptr(vectors.view(np.uint8)), swig_ptr(rows), vectors,
                    rows)
    return lists


def _vectors(indexes: ClusterIndexes, c: int) -> np.ndarray:
    """Cluster c's stored vectors, a view (no copy) of its index or its mapping."""
    mapped = indexes._mapped[c]
    if mapped is not None:
        return mapped[0]
    index = indexes.indexes[c]
    return faiss.rev_swig_ptr(index.get_xb(), index.ntotal * indexes.dim).reshape(
        index.ntotal, indexes.dim)


def plan(indexes: ClusterIndexes, query: np.ndarray, k: int, nprobe: int,
         selection: Selection) -> tuple[np.ndarray, int]:
    """(clusters to scan, the query's nearest cluster)."""
    per = selection.per_cluster
    near = indexes.quantizer.search(query, nprobe)[1][0]
    budget = max(int(_sizes(indexes)[near].sum()), k)
    if int(per.sum()) <= budget:
        return np.flatnonzero(per), int(near[0])
    nearest = indexes.quantizer.search(query, indexes.nlist)[1][0]
    holding = nearest[per[nearest] > 0]
    widen = WIDEN_CONCENTRATED if selection.concentrated else WIDEN
    cover = max(int(widen * budget), k)
    enough = int(np.searchsorted(np.cumsum(per[holding]), cover)) + 1
    return holding[:enough], int(near[0])


def search_selected(indexes: ClusterIndexes, queries: np.ndarray, k: int, nprobe: int,
                    rowids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(distances (n, k), row numbers (n, k), nearest cluster (n, 1)) over the rows named by
    sorted rowids only; the plan is the module docstring's."""
    n = len(queries)
    distances = np.full((n, k), np.inf, np.float32)
    labels = np.full((n, k), -1, np.int64)
    probe = np.full((n, 1), -1, np.int64)
    selection = select(indexes, rowids)
    if selection.lists is not None:
        scanner, lists = indexes._scanner(), selection.lists
    else:
        scanner = indexes._scanner_source.get_InvertedListScanner(False, selection.selector,
                                                                  None)
        lists = indexes._lists
    for i in range(n):
        query = np.ascontiguousarray(queries[i : i + 1])
        scan, probe[i, 0] = plan(indexes, query, k, nprobe, selection)
        d, rows = distances[i], labels[i]
        scanner.set_query(swig_ptr(query))
        heap_d, heap_i = swig_ptr(d), swig_ptr(rows)
        for c in scan.tolist():
            size, codes, row_ptr = lists[c][:3]
            scanner.scan_codes(size, codes, row_ptr, heap_d, heap_i, k)
        order = np.lexsort((rows, d))  # the heap's order; ties: lower row number first
        distances[i], labels[i] = d[order], rows[order]
    return distances, labels, probe
