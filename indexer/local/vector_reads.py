"""The metadata store's reads of vectors: one, some, all (in chunks), and the centroids,
each checked against its row's checksum.

A mixin of MetadataStore (store.py), which owns the connection and its lock.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from lookalike.common.errors import CollectionError, NotFound
from lookalike.indexer.local.integrity import row_crc


class VectorReads:
    """vector, iter_vectors, all_vectors, vectors_of and centroids."""

    path: Path
    _db: sqlite3.Connection
    _lock: threading.Lock

    def count(self) -> int: ...  # pragma: no cover - MetadataStore's

    def vector(self, rowid: int, dim: int) -> np.ndarray:
        with self._lock:
            blob = self._db.execute("SELECT vector FROM images WHERE rowid=?", (rowid,)).fetchone()
        if blob is None:  # deleted between finding its row and reading its vector
            raise NotFound(f"row {rowid} was deleted")
        return np.frombuffer(blob[0], np.float32, count=dim).copy()

    def iter_vectors(
        self, dim: int, chunk: int = 16_384,
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Every (rowids, clusters, vectors) in row order, chunk rows at a time, each row's
        checksum verified; chunks keep memory flat however large the collection is."""
        last = 0
        while True:
            with self._lock:
                got = self._db.execute(
                    "SELECT rowid, id, path, cluster, vector, crc FROM images WHERE rowid > ? "
                    "ORDER BY rowid LIMIT ?", (last, chunk)).fetchall()
            if not got:
                return
            last = got[-1][0]
            yield self._verified(got, dim)

    def all_vectors(self, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every (rowid, cluster, vector), filled chunk by chunk into preallocated arrays."""
        total = self.count()
        rowids = np.empty(total, np.int64)
        clusters = np.empty(total, np.int64)
        vectors = np.empty((total, dim), np.float32)
        fill = 0
        for r, c, v in self.iter_vectors(dim):
            if fill + len(r) > total:  # rows added meanwhile: the caller holds no write lock
                raise CollectionError(f"{self.path} changed while it was being read")
            rowids[fill : fill + len(r)], clusters[fill : fill + len(r)] = r, c
            vectors[fill : fill + len(r)] = v
            fill += len(r)
        return rowids[:fill], clusters[:fill], vectors[:fill]

    def vectors_of(self, rowids: np.ndarray,
                   dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rowids, clusters, vectors) of the given rows that exist, in row order, verified."""
        got: list = []
        wanted = sorted(int(r) for r in rowids)
        with self._lock:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                got += self._db.execute(
                    "SELECT rowid, id, path, cluster, vector, crc FROM images WHERE rowid IN "
                    f"({','.join('?' * len(chunk))}) ORDER BY rowid", chunk).fetchall()
        return self._verified(got, dim)

    def _verified(self, got: list, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        for rowid, row_id, path, cluster, blob, crc in got:
            if len(blob) != 4 * dim or row_crc(blob, row_id, path, cluster) != crc:
                raise CollectionError(f"{self.path} is corrupt: row {rowid} fails its checksum")
        vectors = np.frombuffer(b"".join(r[4] for r in got), np.float32).reshape(-1, dim)
        return (np.fromiter((r[0] for r in got), np.int64, len(got)),
                np.fromiter((r[3] for r in got), np.int64, len(got)), vectors)

    def centroids(self, dim: int) -> np.ndarray:
        with self._lock:
            got = self._db.execute("SELECT vector, crc FROM centroids ORDER BY cluster").fetchall()
        if not got or any(len(b) != 4 * dim or row_crc(b) != crc for b, crc in got):
            raise CollectionError(f"{self.path} is corrupt: centroids fail their checksum")
        return np.frombuffer(b"".join(b for b, _ in got), np.float32).reshape(len(got), dim)
