"""The change log: one numbered entry per row added, deleted or relabelled, one per cluster
name change and one per reclustering, so every process sharing a collection can apply
exactly what the others changed."""

from __future__ import annotations

import sqlite3
from typing import NamedTuple

import numpy as np

SCHEMA = """
CREATE TABLE IF NOT EXISTS changes (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    op      INTEGER NOT NULL,
    rowid   INTEGER NOT NULL,
    cluster INTEGER NOT NULL
);
"""
ADD, DELETE, RELOAD = 1, 2, 3
PAYLOAD, NAMES = 4, 5  # a row's labels or attributes changed; a cluster's name changed
# Entries kept after each write. A process further behind than this reloads in full, so the
# log stays bounded without knowing which processes exist (a killed one never says goodbye).
WINDOW = 1_000_000
_EMPTY = np.empty(0, np.int64)


class Pending(NamedTuple):
    """What changed after a process's last applied entry, up to entry `last`.

    reload: apply nothing, rebuild from the tables instead (a reclustering, or the entries
        needed were trimmed). Otherwise `added` (row numbers, ascending) still exist and are
        new to the process; `deleted` rows (with their clusters) were in it and are gone;
        `relabelled` rows' labels or attributes changed (reread them; some may be gone);
        `names`: a cluster name changed.
    """

    last: int
    reload: bool
    added: np.ndarray = _EMPTY
    deleted: np.ndarray = _EMPTY
    deleted_clusters: np.ndarray = _EMPTY
    relabelled: np.ndarray = _EMPTY
    names: bool = False

    @property
    def empty(self) -> bool:
        return (not self.reload and not len(self.added) and not len(self.deleted)
                and not len(self.relabelled) and not self.names)


def has_log(db: sqlite3.Connection) -> bool:
    """False for a collection written before the change log existed."""
    return db.execute("SELECT 1 FROM sqlite_master WHERE name='changes'").fetchone() is not None


def last_seq(db: sqlite3.Connection) -> int:
    """The number of the newest entry ever written (0: none); trimming does not lower it."""
    got = db.execute("SELECT seq FROM sqlite_sequence WHERE name='changes'").fetchone()
    return int(got[0]) if got else 0


def record(db: sqlite3.Connection, op: int, rowids: np.ndarray, clusters: np.ndarray,
           window: int = WINDOW) -> int:
    """Logs one entry per row inside the caller's write transaction, trims the log to the
    last `window` entries, and returns the number of the last entry written."""
    db.executemany("INSERT INTO changes(op, rowid, cluster) VALUES (?, ?, ?)",
                   zip([op] * len(rowids), map(int, rowids), map(int, clusters), strict=True))
    last = last_seq(db)
    db.execute("DELETE FROM changes WHERE seq <= ?", (last - max(1, window),))
    return last


def read_since(db: sqlite3.Connection, seq: int) -> Pending:
    """What happened after entry seq, read inside the caller's read transaction."""
    last = last_seq(db)
    if last == seq:
        return Pending(last, False)
    first = db.execute("SELECT MIN(seq) FROM changes").fetchone()[0]
    if last < seq or first is None or first > seq + 1:  # a replaced database, or trimmed
        return Pending(last, True)
    got = np.array(db.execute("SELECT op, rowid, cluster FROM changes WHERE seq > ? "
                              "ORDER BY seq", (seq,)).fetchall(), np.int64).reshape(-1, 3)
    op, rowid, cluster = got.T
    if (op == RELOAD).any() or not np.isin(op, (ADD, DELETE, PAYLOAD, NAMES)).all():
        return Pending(last, True)  # unknown: be safe
    added, deleted = rowid[op == ADD], rowid[op == DELETE]
    both = np.isin(added, deleted)  # added then deleted: never there, nothing to take out
    old = ~np.isin(deleted, added)
    return Pending(last, False, np.sort(added[~both]), deleted[old],
                   cluster[op == DELETE][old], np.unique(rowid[op == PAYLOAD]),
                   bool((op == NAMES).any()))
