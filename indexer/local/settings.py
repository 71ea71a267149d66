"""The collection's stored settings: every row carries a checksum, every value is checked."""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

from lookalike.common.errors import CollectionError
from lookalike.indexer.calibration import KEYS as DUPLICATE_KEYS
from lookalike.indexer.calibration import valid_value

SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    crc   INTEGER NOT NULL DEFAULT -1
);
"""
MAX_NPROBE = 1 << 16
REBUILD = ("; this collection predates settings checksums, so rebuild it with "
           "`lookalike build`")


def _whole_number(value: str, low: int, high: int) -> bool:
    return value.isascii() and value.isdigit() and low <= int(value) <= high


# What each setting may hold; a value outside it fails the open, whatever its checksum.
VALID: dict[str, Callable[[str], bool]] = {
    "default_nprobe": lambda v: _whole_number(v, 1, MAX_NPROBE),
    **{key: valid_value for key in DUPLICATE_KEYS},  # optional: older collections lack them
}
REQUIRED = ("default_nprobe",)


def setting_crc(key: str, value: str) -> int:
    """A flipped bit in a key, a value or the checksum itself makes these disagree."""
    return zlib.crc32(value.encode("utf-8", "surrogatepass"),
                      zlib.crc32(key.encode("utf-8", "surrogatepass") + b"\0"))


def has_checksums(db: sqlite3.Connection) -> bool:
    """False for a collection written before settings had checksums."""
    return "crc" in {row[1] for row in db.execute("PRAGMA table_info(settings)")}


def read_settings(db: sqlite3.Connection, path: Path, checksummed: bool) -> dict[str, str]:
    """Every setting, each checked against its checksum (when it has one) and its rule.

    Raises:
        CollectionError: naming path and the setting.
    """
    if checksummed:
        rows = db.execute("SELECT key, value, crc FROM settings").fetchall()
    else:
        rows = [(k, v, None) for k, v in db.execute("SELECT key, value FROM settings")]
    return check(rows, path, checksummed)


def check(rows: Iterable[tuple], path: Path, checksummed: bool) -> dict[str, str]:
    hint = "" if checksummed else REBUILD
    found: dict[str, str] = {}
    for key, value, crc in rows:
        if not isinstance(key, str) or not isinstance(value, str):
            raise CollectionError(f"{path} is corrupt: a setting is not text{hint}")
        if checksummed and crc != setting_crc(key, value):
            raise CollectionError(f"{path} is corrupt: setting {key!r} fails its checksum")
        rule = VALID.get(key)
        if rule is not None and not rule(value):
            raise CollectionError(
                f"{path} is corrupt: setting {key!r} holds {value!r}, not a valid value{hint}")
        found[key] = value
    for key in REQUIRED:
        if key not in found:
            raise CollectionError(f"{path} is corrupt: setting {key!r} is missing{hint}")
    return found


def add_checksums(db: sqlite3.Connection) -> None:
    """Upgrades an older collection in place (inside the caller's transaction)."""
    db.execute("ALTER TABLE settings ADD COLUMN crc INTEGER NOT NULL DEFAULT -1")
    rows = db.execute("SELECT key, value FROM settings").fetchall()
    db.executemany("UPDATE settings SET crc=? WHERE key=?",
                   [(setting_crc(k, v), k) for k, v in rows])


def write_settings(db: sqlite3.Connection, settings: dict[str, str]) -> None:
    for key, value in settings.items():
        if key in VALID and not VALID[key](value):
            raise ValueError(f"setting {key!r} cannot be {value!r}")
    db.executemany("INSERT OR REPLACE INTO settings(key, value, crc) VALUES (?, ?, ?)",
                   [(k, v, setting_crc(k, v)) for k, v in settings.items()])
