"""The metadata store's label statements: payloads, cluster names, label counts, the page
key, and the row selections browsing and filters start from.

A mixin of MetadataStore (store.py), which owns the connection, its lock and the change
log; the SQL itself is payload.py's.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from lookalike.common.labels import Payload
from lookalike.indexer.disk import transaction
from lookalike.indexer.interface import Row
from lookalike.indexer.local import changelog, payload


class LabelStatements:
    """payloads, update_payloads, names, label counts, page key and row selections."""

    path: Path
    _db: sqlite3.Connection
    _lock: threading.Lock

    def _log(self, op: int, rowids: Sequence[int], clusters: Iterable[int]) -> None: ...

    def payloads(self, rowids: Iterable[int]) -> dict[int, Payload]:
        """The labels and attributes of the given rows that carry any."""
        with self._lock:
            return payload.read(self._db, list(rowids))

    def all_payloads(self) -> dict[int, Payload]:
        with self._lock:
            return payload.read_all(self._db)

    def update_payloads(self, rowids: Sequence[int], payloads: Sequence[Payload],
                        names: dict[int, str] | None = None) -> int:
        """Replaces the rows' payloads and (given) sets cluster names ("" clears) in one
        transaction, logged for the other processes; returns the log entries written."""
        names = names or {}
        with self._lock, transaction(self._db, self.path):
            payload.write(self._db, rowids, payloads)
            self._log(changelog.PAYLOAD, rowids, [0] * len(rowids))
            for cluster, name in names.items():
                payload.set_name(self._db, cluster, name)
            self._log(changelog.NAMES, list(names), list(names))
        return len(rowids) + len(names)

    def name_cluster(self, cluster: int, name: str) -> str:
        with self._lock, transaction(self._db, self.path):
            previous = payload.set_name(self._db, cluster, name)
            self._log(changelog.NAMES, [cluster], [cluster])
            return previous

    def cluster_names(self) -> dict[int, str]:
        with self._lock:
            return payload.names(self._db)

    def label_counts(self) -> dict[str, int]:
        with self._lock:
            return payload.label_counts(self._db)

    def page_secret(self) -> bytes:
        with self._lock:
            return payload.secret(self._db)

    def path_rows(self, prefix: str) -> np.ndarray:
        """Row numbers (ascending) of the images whose path starts with prefix."""
        with self._lock:
            return np.array(payload.path_prefix(self._db, prefix), np.int64)

    def cluster_rows(self, cluster: int) -> list[int]:
        with self._lock:
            got = self._db.execute("SELECT rowid FROM images WHERE cluster=? ORDER BY rowid",
                                   (cluster,))
            return [r[0] for r in got]

    def rows_after(self, after: int, limit: int) -> list[Row]:
        """Up to limit rows with row numbers above after, in row order."""
        with self._lock:
            got = self._db.execute("SELECT rowid, id, path, cluster FROM images WHERE rowid > ? "
                                   "ORDER BY rowid LIMIT ?", (after, limit))
            return [Row(*r) for r in got]
