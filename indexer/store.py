"""The durable metadata store: one SQLite database in WAL mode, the source of truth."""

from __future__ import annotations

import sqlite3
import zlib
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from lookalike.common.errors import AlreadyExists, CollectionError

SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    rowid   INTEGER PRIMARY KEY AUTOINCREMENT,
    id      TEXT UNIQUE,
    path    TEXT NOT NULL,
    cluster INTEGER NOT NULL,
    vector  BLOB NOT NULL,
    crc     INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS images_cluster ON images(cluster);
CREATE TABLE IF NOT EXISTS centroids (
    cluster INTEGER PRIMARY KEY,
    vector  BLOB NOT NULL,
    crc     INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


def row_crc(vector: bytes, id: str = "", path: str = "") -> int:
    """SQLite checks its structure, not its contents: this catches a flipped bit in a row."""
    return zlib.crc32(path.encode(), zlib.crc32(id.encode(), zlib.crc32(vector)))


class Row(NamedTuple):
    rowid: int
    id: str
    path: str
    cluster: int


class MetadataStore:
    """Images (id, path, cluster, vector) in SQLite; every write is one fsynced transaction."""

    def __init__(self, path: str | Path, *, create: bool = False) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        if not create and (not self.path.exists() or self.path.stat().st_size == 0):
            raise CollectionError(f"{self.path} is missing or empty")
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: an acknowledged add survives power loss, not only a process crash.
            self._db.execute("PRAGMA synchronous=FULL")
            if self._db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("integrity check failed")
            tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
            if not create and not {"images", "centroids", "settings"} <= tables:
                raise sqlite3.DatabaseError("tables are missing")
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise CollectionError(f"{self.path} is not a readable lookalike database: {exc}") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def insert(
        self, ids: Sequence[str | None], paths: Sequence[str], clusters: np.ndarray,
        vectors: np.ndarray,
    ) -> list[Row]:
        """Inserts rows in one transaction; an id of None becomes the row number as text.

        Raises:
            AlreadyExists: an id is taken; nothing is inserted.
        """
        vectors = np.ascontiguousarray(vectors, np.float32)
        with self._lock, _transaction(self._db):
            rows = []
            for row_id, path, cluster, vector in zip(ids, paths, clusters, vectors):
                blob = vector.tobytes()
                try:
                    cur = self._db.execute(
                        "INSERT INTO images(id, path, cluster, vector, crc) VALUES (?, ?, ?, ?, ?)",
                        (row_id, path, int(cluster), blob, row_crc(blob, row_id or "", path)),
                    )
                    rowid = int(cur.lastrowid)
                    if row_id is None:
                        row_id = str(rowid)
                        self._db.execute("UPDATE images SET id=?, crc=? WHERE rowid=?",
                                         (row_id, row_crc(blob, row_id, path), rowid))
                except sqlite3.IntegrityError:
                    raise AlreadyExists(f"id {row_id!r} is already in the collection") from None
                rows.append(Row(rowid, row_id, path, int(cluster)))
            return rows

    def delete(self, ids: Iterable[str]) -> list[Row]:
        """Deletes the ids that exist, in one transaction, and returns their rows."""
        with self._lock, _transaction(self._db):
            found = self._rows_by_id(list(ids))
            self._db.executemany("DELETE FROM images WHERE rowid=?", [(r.rowid,) for r in found])
            return found

    def find(self, ids: Sequence[str]) -> list[Row]:
        with self._lock:
            return self._rows_by_id(ids)

    def _rows_by_id(self, ids: Sequence[str]) -> list[Row]:
        rows = []
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows += self._db.execute(
                f"SELECT rowid, id, path, cluster FROM images WHERE id IN ({marks})", chunk
            ).fetchall()
        return [Row(*r) for r in rows]

    def describe(self, rowids: Iterable[int]) -> dict[int, Row]:
        """Metadata of the given row numbers, by row number."""
        wanted = sorted({int(r) for r in rowids if r >= 0})
        if not wanted:
            return {}
        marks = ",".join("?" * len(wanted))
        with self._lock:
            got = self._db.execute(
                f"SELECT rowid, id, path, cluster FROM images WHERE rowid IN ({marks})", wanted
            ).fetchall()
        return {r[0]: Row(*r) for r in got}

    def vector(self, rowid: int, dim: int) -> np.ndarray:
        with self._lock:
            blob = self._db.execute("SELECT vector FROM images WHERE rowid=?", (rowid,)).fetchone()
        return np.frombuffer(blob[0], np.float32, count=dim).copy()

    def all_vectors(self, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every (rowid, cluster, vector), for rebuilding the in-memory indexes."""
        with self._lock:
            got = self._db.execute(
                "SELECT rowid, id, path, cluster, vector, crc FROM images ORDER BY rowid")
            rowids, clusters, blobs = [], [], []
            for rowid, row_id, path, cluster, blob, crc in got:
                if len(blob) != 4 * dim or row_crc(blob, row_id, path) != crc:
                    raise CollectionError(
                        f"{self.path} is corrupt: row {rowid} fails its checksum"
                    )
                rowids.append(rowid)
                clusters.append(cluster)
                blobs.append(blob)
        vectors = np.frombuffer(b"".join(blobs), np.float32).reshape(len(blobs), dim)
        return np.array(rowids, np.int64), np.array(clusters, np.int64), vectors

    def set_clustering(
        self, centroids: np.ndarray, rowids: np.ndarray, clusters: np.ndarray,
        settings: dict[str, str],
    ) -> None:
        """Swaps in new centroids, every row's cluster and settings in one transaction."""
        centroids = np.ascontiguousarray(centroids, np.float32)
        with self._lock, _transaction(self._db):
            self._db.execute("DELETE FROM centroids")
            self._db.executemany(
                "INSERT INTO centroids(cluster, vector, crc) VALUES (?, ?, ?)",
                ((i, c.tobytes(), row_crc(c.tobytes())) for i, c in enumerate(centroids)),
            )
            self._db.executemany(
                "UPDATE images SET cluster=? WHERE rowid=?",
                zip(map(int, clusters), map(int, rowids)),
            )
            self._db.executemany(
                "INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)", settings.items()
            )

    def centroids(self, dim: int) -> np.ndarray:
        with self._lock:
            got = self._db.execute("SELECT vector, crc FROM centroids ORDER BY cluster").fetchall()
        if not got or any(len(b) != 4 * dim or row_crc(b) != crc for b, crc in got):
            raise CollectionError(f"{self.path} is corrupt: centroids fail their checksum")
        return np.frombuffer(b"".join(b for b, _ in got), np.float32).reshape(len(got), dim)

    def settings(self) -> dict[str, str]:
        with self._lock:
            return dict(self._db.execute("SELECT key, value FROM settings").fetchall())

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM images").fetchone()[0])

    def rows(self) -> list[Row]:
        with self._lock:
            got = self._db.execute("SELECT rowid, id, path, cluster FROM images ORDER BY rowid")
            return [Row(*r) for r in got]


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, exc, tb) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
