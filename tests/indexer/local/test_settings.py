"""Stored settings: a flipped bit in any of them is refused on open, naming the file."""

import sqlite3

import pytest

from benchmarks.testbed import blob_vectors, make_collection
from lookalike.common.errors import CollectionError
from lookalike.indexer.local.collection import Collection

from .test_corruption import checkpoint_wal


@pytest.fixture
def folder(tmp_path, model_dir):
    make_collection(tmp_path / "c", model_dir, blob_vectors(n=60), k=4, nprobe=2).close()
    checkpoint_wal(tmp_path / "c")
    return tmp_path / "c"


def flip_in_file(path, find: bytes, offset: int, mask: int) -> None:
    """Flips bits of one byte of the database file where `find` is stored."""
    data = bytearray(path.read_bytes())
    at = data.find(find)
    assert at >= 0, f"{find!r} is not in {path}"
    data[at + offset] ^= mask
    path.write_bytes(bytes(data))


# '2' is 0x32: one bit away from '0' (0x30), ':' (0x3a) and '3' (0x33).
@pytest.mark.parametrize("mask", [0x02, 0x08, 0x01], ids=["to-0", "to-colon", "to-3"])
def test_a_bit_flip_in_default_nprobe_is_refused(folder, mask):
    """Issue 13, defect 3: '2' -> '0' loaded and failed every search; ':' was a traceback."""
    db = folder / "collection.sqlite"
    flip_in_file(db, b"default_nprobe2", len(b"default_nprobe"), mask)
    with pytest.raises(CollectionError, match=r"collection\.sqlite.*'default_nprobe'"):
        Collection.open(folder)


def test_a_bit_flip_in_a_setting_key_is_refused(folder):
    flip_in_file(folder / "collection.sqlite", b"default_nprobe2", 3, 0x20)
    with pytest.raises(CollectionError, match=r"collection\.sqlite.*setting"):
        Collection.open(folder)


def make_legacy(folder, value: str = "2") -> None:
    """The settings table as collections built before settings checksums had it."""
    db = sqlite3.connect(folder / "collection.sqlite")
    db.execute("ALTER TABLE settings DROP COLUMN crc")
    db.execute("UPDATE settings SET value=? WHERE key='default_nprobe'", (value,))
    db.commit()
    db.close()


def test_an_older_collection_opens_and_gains_checksums(folder):
    from lookalike.indexer.local.settings import has_checksums

    make_legacy(folder)
    with Collection.open(folder, read_only=True) as c:  # a read-only open changes nothing
        assert c.default_nprobe == 2
    db = sqlite3.connect(folder / "collection.sqlite")
    assert not has_checksums(db)
    db.close()
    with Collection.open(folder) as c:
        assert c.default_nprobe == 2 and len(c) == 60
    db = sqlite3.connect(folder / "collection.sqlite")
    assert has_checksums(db)
    db.close()
    checkpoint_wal(folder)
    flip_in_file(folder / "collection.sqlite", b"default_nprobe2", len(b"default_nprobe"), 0x01)
    with pytest.raises(CollectionError, match="fails its checksum"):
        Collection.open(folder)


@pytest.mark.parametrize("value", ["0", ":", "", "-1", "1e3", "999999999"])
def test_an_older_collection_with_a_bad_value_is_refused_with_a_rebuild_hint(folder, value):
    make_legacy(folder, value)
    with pytest.raises(CollectionError, match=r"collection\.sqlite.*rebuild it"):
        Collection.open(folder)


def test_recluster_writes_checksummed_settings(folder):
    from lookalike.indexer.local.recluster import recluster
    from lookalike.indexer.recluster import ReclusterConfig

    with Collection.open(folder) as c:
        report = recluster(c, ReclusterConfig(clusters=3))
    with Collection.open(folder, read_only=True) as c:
        assert c.default_nprobe == report.default_nprobe
