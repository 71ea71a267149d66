"""SQLite transactions that roll back cleanly, and a full disk as StorageFull, not a bug."""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lookalike.common.errors import StorageFull

SQLITE_FULL = 13
FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_disk_full(exc: BaseException) -> bool:
    """SQLite's "database or disk is full" (a full disk, or max_page_count), ENOSPC or EDQUOT."""
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", 0) or 0
        return code & 0xFF == SQLITE_FULL or "database or disk is full" in str(exc)
    return isinstance(exc, OSError) and exc.errno in FULL_ERRNOS


def storage_full(path: str | Path, exc: BaseException) -> StorageFull:
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return StorageFull(f"the disk is full: cannot write {path} ({detail}); nothing was stored. "
                       "Free some space on the server's disk and try again.")


@contextmanager
def refuse_when_full(path: str | Path) -> Iterator[None]:
    """Raises StorageFull, naming path, for a full-disk error inside the block."""
    try:
        yield
    except (sqlite3.Error, OSError) as exc:
        if is_disk_full(exc):
            raise storage_full(path, exc) from None
        raise


class transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error; a full disk is StorageFull."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self.db = db
        self.path = path

    def __enter__(self) -> None:
        with refuse_when_full(self.path):
            self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            try:
                self.db.execute("COMMIT")
                return
            except sqlite3.Error as failed:
                self._rollback()
                if is_disk_full(failed):
                    raise storage_full(self.path, failed) from None
                raise
        self._rollback()
        if is_disk_full(exc):
            raise storage_full(self.path, exc) from None

    def _rollback(self) -> None:
        # SQLite may have rolled back already: it does on some SQLITE_FULL errors.
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")
