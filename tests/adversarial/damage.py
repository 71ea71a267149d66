"""Ways to damage a local collection on disk, each named, for tests that compare how every
reader reports them: a lone server's open, a server group's parent and its workers.

Database damage lands on what it names: a flipped bit inside one row's vector, text made
undecodable, a checksum that no longer matches (as a flipped bit in it would leave it).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

from lookalike.indexer.manifest import Manifest

DATABASE = "collection.sqlite"
ROW = "(SELECT rowid FROM images ORDER BY rowid LIMIT 1 OFFSET 7)"
NOT_LOW_BIT = "(crc | 1) - (crc & 1)"  # crc with its lowest bit flipped (SQLite has no XOR)


def checkpoint(folder: Path) -> None:
    """Folds the WAL into the database file, so damage to the file is damage to the data."""
    db = sqlite3.connect(folder / DATABASE)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def flip_in_file(path: Path, offset: int, mask: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= mask
    path.write_bytes(bytes(data))


def flip_stored(folder: Path, query: str, at: int, mask: int) -> None:
    """Flips bits of the bytes the query selects (a blob or a text), everywhere the file
    holds them (a path is in its row and in the path index): the database is damaged under
    SQLite, not through it."""
    checkpoint(folder)
    with sqlite3.connect(folder / DATABASE) as db:
        value = db.execute(query).fetchone()[0]
    stored = value.encode() if isinstance(value, str) else bytes(value)
    data = (folder / DATABASE).read_bytes()
    starts, start = [], data.find(stored)
    while start >= 0:
        starts.append(start)
        start = data.find(stored, start + 1)
    assert 1 <= len(starts) <= 2, f"stored {len(starts)} times, not in its row (and an index)"
    for start in starts:
        flip_in_file(folder / DATABASE, start + at, mask)


def update(folder: Path, statement: str) -> None:
    with sqlite3.connect(folder / DATABASE) as db:
        db.execute(statement)
    db.close()
    checkpoint(folder)


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def flip_middle(path: Path) -> None:
    flip_in_file(path, path.stat().st_size // 2, 0x40)


def empty(path: Path) -> None:
    path.write_bytes(b"")


def rewrite_manifest(folder: Path, **changes: object) -> None:
    """A well-formed manifest with other values, as another build would write it."""
    doc = json.loads((folder / "manifest.json").read_text())
    doc.pop("sha256")
    Manifest(**{**doc, **changes}).write(folder)


def on(name: str, damage: Callable[[Path], None]) -> Callable[[Path], None]:
    return lambda folder: damage(folder / name)


def in_database(damage: Callable[[Path], None]) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        checkpoint(folder)
        damage(folder / DATABASE)

    return apply


def schema_bit(folder: Path) -> None:
    """The images table's checksum column renamed by one flipped bit (crc -> brc)."""
    query = "SELECT sql FROM sqlite_master WHERE name='images'"
    checkpoint(folder)
    with sqlite3.connect(folder / DATABASE) as db:
        sql = db.execute(query).fetchone()[0]
    db.close()
    flip_stored(folder, query, sql.index("crc "), 0x01)


KINDS: dict[str, Callable[[Path], None]] = {
    "row vector bit": lambda f: flip_stored(f, f"SELECT vector FROM images WHERE rowid={ROW}",
                                            5, 0x04),
    "row checksum": lambda f: update(f, f"UPDATE images SET crc={NOT_LOW_BIT} WHERE rowid={ROW}"),
    "row path bit": lambda f: flip_stored(f, f"SELECT path FROM images WHERE rowid={ROW}",
                                          3, 0x02),
    "row path not UTF-8": lambda f: flip_stored(f, f"SELECT path FROM images WHERE rowid={ROW}",
                                                3, 0x80),
    "row moved to another cluster": lambda f: update(
        f, f"UPDATE images SET cluster=(cluster + 1) % 4 WHERE rowid={ROW}"),
    "row cluster out of range": lambda f: update(f, f"UPDATE images SET cluster=99 "
                                                    f"WHERE rowid={ROW}"),
    "centroid bit": lambda f: flip_stored(f, "SELECT vector FROM centroids WHERE cluster=1",
                                          9, 0x10),
    "centroid checksum": lambda f: update(f, f"UPDATE centroids SET crc={NOT_LOW_BIT} "
                                             "WHERE cluster=1"),
    "setting": lambda f: update(f, "UPDATE settings SET value=value || '0' "
                                   "WHERE key='default_nprobe'"),
    "schema text": schema_bit,
    "database truncated": in_database(truncate),
    "database empty": in_database(empty),
    "database missing": in_database(Path.unlink),
    "database not SQLite": in_database(lambda p: p.write_bytes(b"not a database " * 300)),
    "manifest truncated": on("manifest.json", truncate),
    "manifest bit": on("manifest.json", flip_middle),
    "manifest empty": on("manifest.json", empty),
    "manifest missing": on("manifest.json", Path.unlink),
    "manifest of another format": lambda f: rewrite_manifest(f, format_version=99),
    "manifest of another model": lambda f: rewrite_manifest(
        f, model_fingerprint="0123456789abcdef"),
    "model config bit": on("model/model.json", flip_middle),
    "model config missing": on("model/model.json", Path.unlink),
    "weights truncated": on("model/weights.msgpack", truncate),
    "weights bit": on("model/weights.msgpack", flip_middle),
    "weights empty": on("model/weights.msgpack", empty),
}
