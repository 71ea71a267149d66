"""Per-cluster Faiss flat indexes in memory: route to centroids, scan those clusters, merge."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import faiss
import numpy as np
from faiss import swig_ptr

from lookalike.common.errors import CollectionError
from lookalike.indexer.clustering import make_quantizer, route

logger = logging.getLogger(__name__)

_pool: ThreadPoolExecutor | None = None


def _threads() -> ThreadPoolExecutor:
    """One shared pool; Faiss releases the GIL, so clusters of a batch scan in parallel."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max(1, faiss.omp_get_max_threads()), "lookalike-scan")
    return _pool


def merge_top_k(distances: np.ndarray, rowids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k smallest of each row of (n, m) candidates, nearest first; padding becomes -1/inf."""
    if distances.shape[1] > k:
        part = np.argpartition(distances, k - 1, axis=1)[:, :k]
        distances = np.take_along_axis(distances, part, 1)
        rowids = np.take_along_axis(rowids, part, 1)
    order = np.argsort(distances, axis=1, kind="stable")
    distances = np.take_along_axis(distances, order, 1)
    rowids = np.take_along_axis(rowids, order, 1)
    distances[rowids < 0] = np.inf
    return distances, rowids


class ClusterIndexes:
    """One IndexFlatL2 per cluster plus the SQLite row number of each of its vectors.

    A bare IndexFlatL2 labels results by position; rows[c][position] is the row number. Each
    rows[c] ends with a -1 so Faiss's "no result" label (-1) maps to -1 without a mask.
    Each index caches its vectors' squared norms (sync_l2norms) for the batched scan's BLAS
    kernel. Faiss does not maintain that cache on add or remove, so every change re-syncs it.

    A single query is scanned differently: Faiss's own IVFFlat list scanner reads each probed
    index's codes in place, labels them with rows[c] and keeps one top-k heap across the
    clusters, which is IndexIVFFlat's inner loop over our per-cluster storage. _lists[c]
    caches the raw pointers it needs; they move when an index changes, so every change
    refreshes them.

    A cluster may instead be mapped (see mapped()): its vectors and norms are read-only
    views of a file that several processes share, scanned in place with the same Faiss
    kernels. Its first add or remove copies it into an IndexFlatL2 of its own.
    Not thread-safe by itself: the Collection guards it with a readers-writer lock.
    """

    def __init__(self, centroids: np.ndarray) -> None:
        self.centroids = np.ascontiguousarray(centroids, np.float32)
        self.dim = self.centroids.shape[1]
        self.quantizer = make_quantizer(self.centroids)
        self.indexes = [faiss.IndexFlatL2(self.dim) for _ in range(len(self.centroids))]
        self.rows = [np.array([-1], np.int64) for _ in range(len(self.centroids))]
        # Only its dimension and metric are read: it makes the list scanners.
        self._scanner_source = faiss.IndexIVFFlat(faiss.IndexFlatL2(self.dim), self.dim, 1)
        self._scanners = threading.local()
        self._lists: list[tuple] = [()] * self.nlist
        # (vectors, norms) of each mapped cluster, None for one held in its IndexFlatL2.
        self._mapped: list[tuple[np.ndarray, np.ndarray] | None] = [None] * self.nlist
        # What filtered.py derives from the rows (where each row is, filter selections);
        # every add or remove clears it.
        self.cache: dict[str, object] = {}
        for c in range(self.nlist):
            self._refresh(c)

    @property
    def nlist(self) -> int:
        return len(self.indexes)

    def sizes(self) -> list[int]:
        return [len(rows) - 1 for rows in self.rows]

    def mapped_rows(self) -> int:
        """How many vectors are scanned in place from a shared mapping."""
        return sum(len(m[0]) for m in self._mapped if m is not None)

    def add(self, clusters: np.ndarray, vectors: np.ndarray, rowids: np.ndarray) -> None:
        """Appends vectors to their clusters' indexes, one Faiss call per cluster."""
        self.cache.clear()
        for c, take in _groups(clusters):
            self._own(c)
            self.indexes[c].add(vectors[take])
            self.indexes[c].sync_l2norms()
            self.rows[c] = np.concatenate([self.rows[c][:-1], rowids[take], [-1]])
            self._refresh(c)

    def remove(self, clusters: np.ndarray, rowids: np.ndarray) -> None:
        self.cache.clear()
        for c, take in _groups(clusters):
            self._own(c)
            positions = np.flatnonzero(np.isin(self.rows[c][:-1], rowids[take]))
            # IndexFlat.remove_ids compacts in order, so positions stay aligned with rows[c].
            self.indexes[c].remove_ids(positions.astype(np.int64))
            self.indexes[c].sync_l2norms()
            self.rows[c] = np.delete(self.rows[c], positions)
            self._refresh(c)

    def _own(self, c: int) -> None:
        """Copies a mapped cluster into its own IndexFlatL2 before it changes."""
        mapped = self._mapped[c]
        if mapped is not None:
            self.indexes[c].add(mapped[0])
            self.indexes[c].sync_l2norms()
            self._mapped[c] = None

    def _refresh(self, c: int) -> None:
        """Re-reads cluster c's code and row pointers for the single-query scan."""
        rows, mapped = self.rows[c], self._mapped[c]
        codes = self.indexes[c].codes.data() if mapped is None else swig_ptr(
            mapped[0].view(np.uint8))
        self._lists[c] = (len(rows) - 1, codes, swig_ptr(rows), rows, mapped)

    def search(self, queries: np.ndarray, k: int, nprobe: int) -> tuple[np.ndarray, ...]:
        """(distances (n, k), row numbers (n, k), probed clusters (n, nprobe)) of queries."""
        if len(queries) == 1:
            return self._search_one(queries, k, nprobe)
        probe = route(queries, self.quantizer, nprobe)
        n = len(queries)
        distances = np.empty((n * nprobe, k), np.float32)
        rowids = np.empty((n * nprobe, k), np.int64)
        # Group the (query, cluster) pairs by cluster: each cluster is scanned once per batch.
        groups = list(_groups(probe.ravel()))
        threads = _threads()._max_workers
        if threads > 1 and len(groups) >= 2 * threads:
            chunks = [groups[i::threads] for i in range(threads)]
            futures = [_threads().submit(self._scan, chunk, queries, nprobe, k, distances, rowids)
                       for chunk in chunks]
            for future in futures:
                future.result()
        else:
            self._scan(groups, queries, nprobe, k, distances, rowids)
        best_d, best_i = merge_top_k(distances.reshape(n, -1), rowids.reshape(n, -1), k)
        return best_d, best_i, probe

    def _scan(self, groups: Iterable[tuple[int, np.ndarray]], queries: np.ndarray, nprobe: int,
              k: int, distances: np.ndarray, rowids: np.ndarray) -> None:
        for c, pairs in groups:
            if len(self.rows[c]) == 1:
                distances[pairs] = np.inf
                rowids[pairs] = -1
                continue
            mapped = self._mapped[c]
            if mapped is None:
                d, i = self.indexes[c].search(queries[pairs // nprobe], k)
            else:
                d, i = _knn(np.ascontiguousarray(queries[pairs // nprobe]), k, *mapped)
            distances[pairs] = d
            rowids[pairs] = self.rows[c][i]

    def _search_one(self, query: np.ndarray, k: int, nprobe: int) -> tuple[np.ndarray, ...]:
        # The hot path of a single gRPC query, measured against IVFFlat in index_bench.py:
        # raw search_c and scan_codes calls into small buffers made here, no OpenMP (the list
        # scanner is sequential), one heap for all probed clusters, labels already row numbers.
        probe = np.empty((1, nprobe), np.int64)
        coarse = np.empty(nprobe, np.float32)
        distances = np.full(k, np.inf, np.float32)
        rowids = np.full(k, -1, np.int64)
        x, heap_d, heap_i = swig_ptr(query), swig_ptr(distances), swig_ptr(rowids)
        # route() for one query, without its wrapper's allocations.
        self.quantizer.search_c(1, x, nprobe, swig_ptr(coarse), swig_ptr(probe))
        scanner = self._scanner()
        scanner.set_query(x)
        lists = self._lists
        for c in probe[0].tolist():
            n, codes, rows, _, _ = lists[c]
            scanner.scan_codes(n, codes, rows, heap_d, heap_i, k)
        order = np.lexsort((rowids, distances))  # equal distances: lower row number first
        return distances[order][None], rowids[order][None], probe

    def _scanner(self) -> faiss.InvertedListScanner:
        """This thread's list scanner: it holds the current query, so threads can't share one."""
        scanner = getattr(self._scanners, "scanner", None)
        if scanner is None:
            scanner = self._scanner_source.get_InvertedListScanner(False, None, None)
            self._scanners.scanner = scanner
        return scanner

    @classmethod
    def load(cls, centroids: np.ndarray, counts: dict[int, int],
             chunks: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> ClusterIndexes:
        """Builds the indexes from (rowids, clusters, vectors) chunks, given rows per cluster.

        Each cluster's vectors are gathered into an exactly sized buffer and added in one
        call, so Faiss allocates each cluster once: no growth slack, no second full copy.
        """
        built = cls(centroids)
        nlist, dim = built.nlist, built.dim
        if any(not 0 <= c < nlist for c in counts):
            raise CollectionError(f"rows name clusters outside 0..{nlist - 1}")
        buffers = [np.empty((counts.get(c, 0), dim), np.float32) for c in range(nlist)]
        rows = [np.empty(counts.get(c, 0) + 1, np.int64) for c in range(nlist)]
        fill = np.zeros(nlist, np.int64)
        for rowids, clusters, vectors in chunks:
            for c, take in _groups(clusters):
                if not 0 <= c < nlist or fill[c] + len(take) > len(buffers[c]):
                    raise CollectionError(f"cluster {c} holds rows it was not counted for")
                start, stop = fill[c], fill[c] + len(take)
                buffers[c][start:stop] = vectors[take]
                rows[c][start:stop] = rowids[take]
                fill[c] = stop
        for c in range(nlist):
            if len(buffers[c]):
                built.indexes[c].add(buffers[c][: fill[c]])
                built.indexes[c].sync_l2norms()
            rows[c][fill[c]] = -1
            built.rows[c] = rows[c][: fill[c] + 1]
            built._refresh(c)
            buffers[c] = None  # type: ignore[call-overload]  # free as we go: peak stays ~1x
        return built

    @classmethod
    def mapped(cls, centroids: np.ndarray, offsets: np.ndarray, rows: np.ndarray,
               norms: np.ndarray, vectors: np.ndarray) -> ClusterIndexes:
        """Indexes over a cluster-ordered snapshot (snapshot.py) scanned in place: cluster c
        is vectors[offsets[c]:offsets[c+1]], its rows rows[offsets[c] + c:offsets[c+1] + c]
        and then a -1."""
        built = cls(centroids)
        if len(offsets) != built.nlist + 1 or vectors.shape[1:] != (built.dim,):
            raise CollectionError(
                f"the snapshot has {len(offsets) - 1} clusters of {vectors.shape[1:]} vectors, "
                f"the collection {built.nlist} of {built.dim}")
        for c in range(built.nlist):
            lo, hi = int(offsets[c]), int(offsets[c + 1])
            built.rows[c] = rows[lo + c : hi + c + 1]
            if hi > lo:
                built._mapped[c] = (vectors[lo:hi], norms[lo:hi])
            built._refresh(c)
        return built


def _knn(queries: np.ndarray, k: int, vectors: np.ndarray,
         norms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """IndexFlatL2.search over vectors it does not own: the same Faiss call, with the same
    cached norms, so the results are identical, padding (-1) included."""
    n = len(queries)
    distances = np.empty((n, k), np.float32)
    labels = np.empty((n, k), np.int64)
    faiss.knn_L2sqr(swig_ptr(queries), swig_ptr(vectors), vectors.shape[1], n, len(vectors), k,
                    swig_ptr(distances), swig_ptr(labels), swig_ptr(norms))
    return distances, labels


def _groups(labels: np.ndarray) -> Iterable[tuple[int, np.ndarray]]:
    """(label, positions holding it) for each distinct label, in label order."""
    order = np.argsort(labels, kind="stable")
    ordered = labels[order]
    cuts = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
    for part in np.split(order, cuts):
        if len(part):
            yield int(labels[part[0]]), part
