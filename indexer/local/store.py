"""The durable metadata store: one SQLite database in WAL mode, the source of truth."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from lookalike.common.errors import AlreadyExists, CollectionError
from lookalike.common.labels import Payload
from lookalike.indexer.disk import refuse_when_full, transaction
from lookalike.indexer.ids import is_text, number_rows
from lookalike.indexer.interface import Row
from lookalike.indexer.local import changelog, payload, settings
from lookalike.indexer.local.integrity import row_crc
from lookalike.indexer.local.label_statements import LabelStatements
from lookalike.indexer.local.vector_reads import VectorReads

logger = logging.getLogger(__name__)

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
""" + settings.SCHEMA + changelog.SCHEMA + payload.SCHEMA


class MetadataStore(VectorReads, LabelStatements):
    """Images (id, path, cluster, vector) in SQLite; every write is one fsynced transaction.

    Every write after the build also appends to the change log (changelog.py) in its own
    transaction; last_change is the number of the last entry this store wrote.
    """

    change_window = changelog.WINDOW

    def __init__(self, path: str | Path, *, create: bool = False, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self._lock = threading.Lock()
        self._logging = not create  # a new collection's rows are its start, not changes
        self.last_change = 0
        if not create and (not self.path.exists() or self.path.stat().st_size == 0):
            raise CollectionError(f"{self.path} is missing or empty")
        try:
            with refuse_when_full(self.path):
                self._db = self._connect(create)
        except sqlite3.DatabaseError as exc:
            raise CollectionError(
                f"{self.path} is not a readable lookalike database: {exc}") from None
        try:
            self._checksummed = self._upgrade() if not create else True
            if not create:
                self.settings()
        except BaseException:
            self._db.close()
            raise

    def _connect(self, create: bool) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.create_function("row_crc", 4, row_crc, deterministic=True)
        db.execute("PRAGMA journal_mode=WAL")
        # FULL: an acknowledged add survives power loss, not only a process crash.
        db.execute("PRAGMA synchronous=FULL")
        if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            raise sqlite3.DatabaseError("integrity check failed")
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
        if not create and not {"images", "centroids", "settings"} <= tables:
            raise sqlite3.DatabaseError("tables are missing")
        if create:
            db.executescript(SCHEMA)
            payload.add_tables(db)  # its page-token secret
        return db

    def _upgrade(self) -> bool:
        """Adds settings checksums to a collection written before them, once its values pass
        their rules, and the change log; a read-only open checks the values and leaves the
        file as it is."""
        if not self.read_only and not changelog.has_log(self._db):
            with self._lock, transaction(self._db, self.path):
                self._db.execute(changelog.SCHEMA)  # one statement: no executescript COMMIT
            logger.info("%s: added the change log to an older collection", self.path)
        if not payload.has_tables(self._db):
            # An older collection: empty label tables (read-only: TEMP ones, the file as is).
            with self._lock, transaction(self._db, self.path):
                payload.add_tables(self._db, temporary=self.read_only)
            logger.info("%s: added the label tables to an older collection", self.path)
        if settings.has_checksums(self._db):
            return True
        settings.read_settings(self._db, self.path, checksummed=False)
        if self.read_only:
            return False
        with self._lock, transaction(self._db, self.path):
            settings.add_checksums(self._db)
        logger.info("%s: added checksums to the settings of an older collection", self.path)
        return True

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def insert(
        self, ids: Sequence[str | None], paths: Sequence[str], clusters: np.ndarray,
        vectors: np.ndarray, payloads: Sequence[Payload] | None = None,
    ) -> list[Row]:
        """Inserts rows (and their payloads) in one transaction; an id of None becomes the row
        number as text.

        A row number that a user already took as an id is skipped, so a generated id never
        collides with a given one.

        Raises:
            AlreadyExists: a given id is taken; nothing is inserted.
        """
        vectors = np.ascontiguousarray(vectors, np.float32)
        with self._lock, transaction(self._db, self.path):
            # BEGIN IMMEDIATE holds the write lock, so the next row numbers are ours to take:
            # ids and checksums are known up front and one executemany writes every row.
            numbered = number_rows(ids, self._next_rowid(),
                                   lambda some: (r.id for r in self._rows_by_id(some)))
            given = zip(numbered, paths, clusters, strict=True)
            rows = [Row(rowid, row_id, path, int(cluster))
                    for (rowid, row_id), path, cluster in given]
            try:
                self._db.executemany(
                    "INSERT INTO images(rowid, id, path, cluster, vector, crc) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    ((*r, blob, row_crc(blob, r.id, r.path, r.cluster))
                     for r, blob in zip(rows, map(np.ndarray.tobytes, vectors), strict=True)),
                )
            except sqlite3.IntegrityError:
                raise AlreadyExists(self._taken_message([r.id for r in rows])) from None
            if payloads is not None:
                payload.write(self._db, [r.rowid for r in rows], payloads, replace=False)
            self._log(changelog.ADD, [r.rowid for r in rows], clusters)
            return rows

    def _log(self, op: int, rowids: Sequence[int], clusters: Iterable[int]) -> None:
        if self._logging and len(rowids):
            self.last_change = changelog.record(
                self._db, op, np.asarray(rowids, np.int64),
                np.fromiter(clusters, np.int64, len(rowids)), self.change_window)

    def _next_rowid(self) -> int:
        # AUTOINCREMENT never reuses a deleted row's number, so ids made from it stay unique.
        got = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name='images'").fetchone()
        return (got[0] if got else 0) + 1

    def _taken_message(self, ids: list[str]) -> str:
        seen: set[str] = set()
        for row_id in ids:
            if row_id in seen:
                return f"id {row_id!r} is given twice"
            seen.add(row_id)
        taken = self._rows_by_id(ids)
        name = taken[0].id if taken else ids[0]
        return f"id {name!r} is already in the collection"

    def delete(self, ids: Iterable[str]) -> list[Row]:
        """Deletes the ids that exist, in one transaction, and returns their rows."""
        with self._lock, transaction(self._db, self.path):
            found = self._rows_by_id(list(ids))
            self._db.executemany("DELETE FROM images WHERE rowid=?", [(r.rowid,) for r in found])
            payload.remove(self._db, [r.rowid for r in found])
            self._log(changelog.DELETE, [r.rowid for r in found], (r.cluster for r in found))
            return found

    def find(self, ids: Sequence[str]) -> list[Row]:
        with self._lock:
            return self._rows_by_id(ids)

    def _rows_by_id(self, ids: Sequence[str]) -> list[Row]:
        ids = [i for i in ids if is_text(i)]  # anything else was never stored: not found
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
        got = []
        with self._lock:
            for start in range(0, len(wanted), 500):  # SQLite caps a statement's parameters
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                got += self._db.execute(
                    f"SELECT rowid, id, path, cluster FROM images WHERE rowid IN ({marks})", chunk
                ).fetchall()
        return {r[0]: Row(*r) for r in got}

    def cluster_counts(self) -> dict[int, int]:
        with self._lock:
            got = self._db.execute("SELECT cluster, COUNT(*) FROM images GROUP BY cluster")
            return {int(c): int(n) for c, n in got}

    def set_clustering(
        self, centroids: np.ndarray, rowids: np.ndarray, clusters: np.ndarray,
        new_settings: dict[str, str], names: dict[int, str] | None = None,
    ) -> None:
        """Swaps in new centroids, every row's cluster, settings and (given) cluster names in
        one transaction."""
        centroids = np.ascontiguousarray(centroids, np.float32)
        with self._lock, transaction(self._db, self.path):
            self._db.execute("DELETE FROM centroids")
            self._db.executemany(
                "INSERT INTO centroids(cluster, vector, crc) VALUES (?, ?, ?)",
                ((i, c.tobytes(), row_crc(c.tobytes())) for i, c in enumerate(centroids)),
            )
            self._db.executemany(
                "UPDATE images SET cluster=?1, crc=row_crc(vector, id, path, ?1) WHERE rowid=?2",
                zip(map(int, clusters), map(int, rowids), strict=True),
            )
            settings.write_settings(self._db, new_settings)
            if names is not None:
                payload.replace_names(self._db, names)
            self._log(changelog.RELOAD, [0], [0])

    def settings(self) -> dict[str, str]:
        """Every setting, each checked against its checksum and its rule.

        Raises:
            CollectionError: a setting is missing, altered or out of range.
        """
        with self._lock:
            return settings.read_settings(self._db, self.path, self._checksummed)

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """One read transaction: the reads inside see a single committed state, even while
        another process (a server, say) writes. The caller holds off this store's writes."""
        with self._lock:
            self._db.execute("BEGIN")
        try:
            yield
        finally:
            with self._lock:
                self._db.execute("COMMIT")

    def data_version(self) -> int:
        """SQLite's counter of commits by other connections: the cheap "did anyone write?"."""
        with self._lock:
            return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def changes_since(self, seq: int) -> changelog.Pending:
        """The change log after entry seq (0 and no log: nothing happened)."""
        with self._lock:
            if not self._logging or not changelog.has_log(self._db):
                return changelog.Pending(seq, False)
            return changelog.read_since(self._db, seq)

    def last_seq(self) -> int:
        with self._lock:
            return changelog.last_seq(self._db) if changelog.has_log(self._db) else 0

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM images").fetchone()[0])

    def rows(self) -> list[Row]:
        with self._lock:
            got = self._db.execute("SELECT rowid, id, path, cluster FROM images ORDER BY rowid")
            return [Row(*r) for r in got]

