"""Labels, attributes and cluster names in SQLite: tables, indexes and the statements on them.

Every function runs inside the caller's transaction (MetadataStore holds the lock), so a
row's labels are written and deleted in the same transaction as the row itself.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from types import MappingProxyType

from lookalike.common.labels import Payload, Value

# labels: its primary key (label, rowid) is the inverted index label -> rows, and counts a
# label without touching the rows; labels_row reads one row's labels. attributes: one value
# per (row, key), in the text or the number column; the two partial indexes are the
# inverted indexes (key, value) -> rows for equality and numeric ranges.
TABLES = (
    """CREATE TABLE IF NOT EXISTS labels (
    label TEXT NOT NULL,
    rowid INTEGER NOT NULL,
    PRIMARY KEY (label, rowid)
) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS labels_row ON labels(rowid)",
    """CREATE TABLE IF NOT EXISTS attributes (
    rowid  INTEGER NOT NULL,
    key    TEXT NOT NULL,
    text   TEXT,
    number REAL,
    PRIMARY KEY (rowid, key),
    CHECK ((text IS NULL) != (number IS NULL))
) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS attributes_text ON attributes(key, text) WHERE text IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS attributes_number ON attributes(key, number) "
    "WHERE number IS NOT NULL",
    "CREATE TABLE IF NOT EXISTS cluster_names (cluster INTEGER PRIMARY KEY, name TEXT NOT NULL)",
    # One random key per collection: it signs Browse page tokens (indexer/pages.py).
    "CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL)",
    "CREATE INDEX IF NOT EXISTS images_path ON images(path)",
)
SCHEMA = "".join(t + ";\n" for t in TABLES)
NAMES = ("labels", "attributes", "cluster_names", "secrets")


def has_tables(db: sqlite3.Connection) -> bool:
    """False for a collection written before labels existed."""
    got = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    return set(NAMES) <= got


def add_tables(db: sqlite3.Connection, temporary: bool = False) -> None:
    """Creates the tables one statement at a time (no executescript COMMIT); temporary: as
    TEMP tables, empty, for a read-only open of an older collection."""
    for statement in TABLES:
        if temporary:
            if "INDEX" in statement:
                continue
            statement = statement.replace("CREATE TABLE", "CREATE TEMP TABLE")
        db.execute(statement)
    if not temporary:
        db.execute("INSERT OR IGNORE INTO secrets(name, value) VALUES ('pages', ?)",
                   (os.urandom(32),))


def secret(db: sqlite3.Connection) -> bytes:
    got = db.execute("SELECT value FROM secrets WHERE name='pages'").fetchone()
    return bytes(got[0]) if got else b"read-only older collection"


def _chunks(rowids: Sequence[int], size: int = 500) -> Iterator[list[int]]:
    for start in range(0, len(rowids), size):
        yield [int(r) for r in rowids[start : start + size]]


def write(db: sqlite3.Connection, rowids: Sequence[int], payloads: Sequence[Payload],
          replace: bool = True) -> None:
    """Stores each row's payload; replace: its old labels and attributes go first."""
    if replace:
        remove(db, rowids)
    db.executemany("INSERT INTO labels(label, rowid) VALUES (?, ?)",
                   ((label, int(r)) for r, p in zip(rowids, payloads, strict=True)
                    for label in p.labels))
    db.executemany("INSERT INTO attributes(rowid, key, text, number) VALUES (?, ?, ?, ?)",
                   ((int(r), key, *_columns(value))
                    for r, p in zip(rowids, payloads, strict=True)
                    for key, value in p.attributes.items()))


def _columns(value: Value) -> tuple[str | None, float | None]:
    return (value, None) if isinstance(value, str) else (None, float(value))


def remove(db: sqlite3.Connection, rowids: Sequence[int]) -> None:
    """Deletes the rows' labels and attributes (the rows are being deleted or rewritten)."""
    for chunk in _chunks(sorted(rowids)):
        marks = ",".join("?" * len(chunk))
        db.execute(f"DELETE FROM labels WHERE rowid IN ({marks})", chunk)
        db.execute(f"DELETE FROM attributes WHERE rowid IN ({marks})", chunk)


def read(db: sqlite3.Connection, rowids: Sequence[int]) -> dict[int, Payload]:
    """The payloads of the given rows that carry anything, by row number."""
    labels: dict[int, set[str]] = {}
    attributes: dict[int, dict[str, Value]] = {}
    for chunk in _chunks(sorted(set(rowids))):
        marks = ",".join("?" * len(chunk))
        for rowid, label in db.execute(
                f"SELECT rowid, label FROM labels WHERE rowid IN ({marks})", chunk):
            labels.setdefault(rowid, set()).add(label)
        for rowid, key, text, number in db.execute(
                f"SELECT rowid, key, text, number FROM attributes WHERE rowid IN ({marks})",
                chunk):
            attributes.setdefault(rowid, {})[key] = text if text is not None else number
    return _payloads(labels, attributes)


def read_all(db: sqlite3.Connection) -> dict[int, Payload]:
    """Every row's payload (rows that carry one), to build the in-memory index from."""
    labels: dict[int, set[str]] = {}
    attributes: dict[int, dict[str, Value]] = {}
    for rowid, label in db.execute("SELECT rowid, label FROM labels"):
        labels.setdefault(rowid, set()).add(label)
    for rowid, key, text, number in db.execute("SELECT rowid, key, text, number FROM attributes"):
        attributes.setdefault(rowid, {})[key] = text if text is not None else number
    return _payloads(labels, attributes)


def _payloads(labels: Mapping[int, set[str]],
              attributes: Mapping[int, dict[str, Value]]) -> dict[int, Payload]:
    return {r: Payload(frozenset(labels.get(r, ())),
                       MappingProxyType(attributes.get(r, {})))
            for r in labels.keys() | attributes.keys()}


def path_prefix(db: sqlite3.Connection, prefix: str) -> list[int]:
    """Row numbers whose path starts with prefix, by a range over the images_path index."""
    if not prefix:
        return [r[0] for r in db.execute("SELECT rowid FROM images ORDER BY rowid")]
    last = prefix[-1]
    if ord(last) < 0x10FFFF:
        upper = prefix[:-1] + chr(ord(last) + 1)  # BINARY collation: code point order
        if not 0xD800 <= ord(upper[-1]) <= 0xDFFF:
            got = db.execute("SELECT rowid FROM images WHERE path >= ? AND path < ?",
                             (prefix, upper))
            return sorted(r[0] for r in got)
    got = db.execute("SELECT rowid FROM images WHERE substr(path, 1, ?) = ?",
                     (len(prefix), prefix))
    return sorted(r[0] for r in got)


def names(db: sqlite3.Connection) -> dict[int, str]:
    return {int(c): n for c, n in db.execute("SELECT cluster, name FROM cluster_names")}


def set_name(db: sqlite3.Connection, cluster: int, name: str) -> str:
    """Names cluster (empty: clears it); returns its previous name, empty when none."""
    got = db.execute("SELECT name FROM cluster_names WHERE cluster=?", (cluster,)).fetchone()
    if name:
        db.execute("INSERT OR REPLACE INTO cluster_names(cluster, name) VALUES (?, ?)",
                   (cluster, name))
    else:
        db.execute("DELETE FROM cluster_names WHERE cluster=?", (cluster,))
    return got[0] if got else ""


def replace_names(db: sqlite3.Connection, new: Mapping[int, str]) -> None:
    db.execute("DELETE FROM cluster_names")
    db.executemany("INSERT INTO cluster_names(cluster, name) VALUES (?, ?)", new.items())


def label_counts(db: sqlite3.Connection) -> dict[str, int]:
    got = db.execute("SELECT label, COUNT(*) FROM labels GROUP BY label ORDER BY 2 DESC, 1")
    return {label: int(n) for label, n in got}
