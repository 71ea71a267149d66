"""Damaged or foreign collections are refused with a message naming the file."""

import json
import sqlite3

import pytest

from lookalike.common.errors import CollectionError, CollectionMismatch, NotFound
from lookalike.indexer.local.collection import Collection
from lookalike.indexer.manifest import Manifest

FILES = ["manifest.json", "model/model.json", "model/weights.msgpack", "collection.sqlite"]


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def flip_bit(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))


def empty(path):
    path.write_bytes(b"")


def checkpoint_wal(folder):
    # Fold the WAL into the main file so damage to it is damage to the data.
    db = sqlite3.connect(folder / "collection.sqlite")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


# A flip in the database may land in free space; the test below covers that case.
CASES = [(name, damage) for name in FILES for damage in (truncate, flip_bit, empty)
         if (name, damage) != ("collection.sqlite", flip_bit)]


@pytest.mark.parametrize(("name", "damage"), CASES)
def test_damaged_file_is_refused_naming_it(collection_copy, name, damage):
    checkpoint_wal(collection_copy)
    damage(collection_copy / name)
    with pytest.raises((CollectionError, NotFound)) as info:
        Collection.open(collection_copy).close()
    assert name.split("/")[-1] in str(info.value)


def contents(collection):
    rows = collection.store.rows()
    return rows, [collection.store.vector(r.rowid, collection.dim).tobytes() for r in rows]


def test_database_bit_flips_never_load_silently_wrong(collection_copy, tmp_path):
    """A flipped bit anywhere in the database either is refused, naming the file, or
    lands where it changes nothing (free space): the loaded data is then identical."""
    checkpoint_wal(collection_copy)
    original = Collection.open(collection_copy)
    expected = contents(original)
    original.close()
    path = collection_copy / "collection.sqlite"
    pristine = path.read_bytes()
    refused = 0
    for offset in range(100, len(pristine), 1024):
        damaged = bytearray(pristine)
        damaged[offset] ^= 0x10
        path.write_bytes(bytes(damaged))
        for leftover in ("collection.sqlite-wal", "collection.sqlite-shm"):
            (collection_copy / leftover).unlink(missing_ok=True)
        try:
            loaded = Collection.open(collection_copy)
        except CollectionError as exc:
            assert "collection.sqlite" in str(exc)
            refused += 1
            continue
        assert contents(loaded) == expected, f"flip at byte {offset} loaded different data"
        loaded.close()
    assert refused > 0


def rewrite_manifest(folder, **changes):
    """A well-formed manifest with other values, as another build would write it."""
    doc = json.loads((folder / "manifest.json").read_text())
    doc.pop("sha256")
    Manifest(**{**doc, **changes}).write(folder)


def test_other_format_version_is_refused(collection_copy):
    rewrite_manifest(collection_copy, format_version=99)
    with pytest.raises(CollectionMismatch, match="format 99"):
        Collection.open(collection_copy)


def test_other_model_is_refused(collection_copy):
    rewrite_manifest(collection_copy, model_fingerprint="0123456789abcdef")
    with pytest.raises(CollectionMismatch, match="0123456789abcdef"):
        Collection.open(collection_copy)


def test_not_a_collection(tmp_path):
    with pytest.raises(NotFound, match="not a lookalike collection"):
        Collection.open(tmp_path)


def test_a_row_moved_to_another_valid_cluster_is_caught(collection_copy):
    """A flip that turns cluster 1 into cluster 0 passes every range check; the row
    checksum covers the cluster so the load still refuses it."""
    db = sqlite3.connect(collection_copy / "collection.sqlite")
    rowid, cluster = db.execute("SELECT rowid, cluster FROM images LIMIT 1").fetchone()
    db.execute("UPDATE images SET cluster=? WHERE rowid=?", ((cluster + 1) % 2, rowid))
    db.commit()
    db.close()
    with pytest.raises(CollectionError, match=f"collection.sqlite.*row {rowid}"):
        Collection.open(collection_copy)
