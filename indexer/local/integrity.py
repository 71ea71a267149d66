"""A row's checksum, and damage met while reading the database named as CollectionError."""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lookalike.common.errors import CollectionError


def row_crc(vector: bytes, id: str = "", path: str = "", cluster: int = -1) -> int:
    """SQLite checks its structure, not its contents: this catches a flipped bit in a row."""
    crc = zlib.crc32(path.encode(), zlib.crc32(id.encode(), zlib.crc32(vector)))
    return zlib.crc32(str(cluster).encode(), crc)


@contextmanager
def corrupt_named(path: Path) -> Iterator[None]:
    """Damage met while reading the database at path becomes CollectionError naming it:
    SQLite's own errors, and checks whose message does not name the file. Every reader
    (a lone server's open, a group's snapshot writer) reports a damaged file the same way."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        raise CollectionError(f"{path} is corrupt: {exc}") from None
    except CollectionError as exc:
        if str(path) in str(exc):
            raise
        raise CollectionError(f"{path} is corrupt: {exc}") from None
