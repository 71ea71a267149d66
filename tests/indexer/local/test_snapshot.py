"""The mapped vector snapshot: shared opens scan it in place and match a load from SQLite."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest

from benchmarks.testbed import blob_vectors, make_collection
from lookalike.indexer.local.collection import Collection
from lookalike.indexer.local.recluster import recluster
from lookalike.indexer.local.snapshot import SNAPSHOT_FILE, write_snapshot
from lookalike.indexer.lock import FolderLock
from lookalike.indexer.recluster import ReclusterConfig


@pytest.fixture
def folder(tmp_path, model_dir):
    vectors = blob_vectors(600)
    vectors[10:20] = vectors[5]  # equal distances: ties must break the same way
    make_collection(tmp_path / "c", model_dir, vectors).close()
    lock = FolderLock(tmp_path / "c")
    yield tmp_path / "c"
    lock.close()


def assert_same_as_sqlite(shared: Collection, folder) -> None:
    """Every search shape (single query, batches, k past a cluster's size, several nprobe)
    gives exactly what a collection loaded from SQLite gives."""
    queries = np.concatenate([blob_vectors(30, seed=3), blob_vectors(600)[5:6]])
    with Collection.open(folder, read_only=True) as truth:
        assert shared.cluster_sizes() == truth.cluster_sizes()
        for k, nprobe in ((1, 1), (5, 2), (200, 3), (1000, 8)):
            for batch in (queries[:1], queries[-1:], queries):
                want, got = truth.scan(batch, k, nprobe), shared.scan(batch, k, nprobe)
                assert np.array_equal(got.rowids, want.rowids)
                assert np.array_equal(got.distances, want.distances)


def test_a_shared_open_scans_the_snapshot_in_place(folder):
    write_snapshot(folder)
    with Collection.open(folder, shared=True) as c:
        assert c._clusters.mapped_rows() == len(c) == 600
        assert_same_as_sqlite(c, folder)


def test_changes_after_the_snapshot_are_applied_and_copy_only_their_clusters(folder):
    write_snapshot(folder)
    with Collection.open(folder, shared=True) as writer:
        writer.add(blob_vectors(4, seed=7) + 30, ["/a.png"] * 4, [None] * 4)
        writer.delete(["3", "4", "300"])
        changed = {r.cluster for r in writer.store.find(["601", "602", "603", "604"])}
        changed |= {writer.search(blob_vectors(600)[i : i + 1], 1).clusters[0]
                    for i in (2, 3, 299)}  # the deleted rows' clusters (nearest centroid)
        assert_same_as_sqlite(writer, folder)
        with Collection.open(folder, shared=True) as late:  # snapshot + log entries after it
            unchanged = sum(s for c, s in enumerate(late.cluster_sizes()) if c not in changed)
            assert late._clusters.mapped_rows() == unchanged > 0
            assert_same_as_sqlite(late, folder)


def test_a_snapshot_older_than_a_reclustering_is_not_used(folder):
    write_snapshot(folder)
    with Collection.open(folder, shared=True) as c:
        recluster(c, ReclusterConfig(clusters=5))
        assert c._clusters.mapped_rows() == 0 and c.nlist == 5
        assert_same_as_sqlite(c, folder)
        with Collection.open(folder, shared=True) as other:
            assert other._clusters.mapped_rows() == 0
        write_snapshot(folder)  # the parent writes a new one; a (re)started worker maps it
        with Collection.open(folder, shared=True) as other:
            assert other._clusters.mapped_rows() == 600 and other.nlist == 5
            assert_same_as_sqlite(other, folder)


def test_a_snapshot_the_trimmed_log_no_longer_reaches_is_not_used(folder):
    write_snapshot(folder)
    with Collection.open(folder, shared=True) as c:
        c.store.change_window = 2
        for i in range(3):
            c.add(blob_vectors(1, seed=i), ["/t.png"], [f"t{i}"])
        with Collection.open(folder, shared=True) as late:
            assert late._clusters.mapped_rows() == 0
            assert_same_as_sqlite(late, folder)


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "magic", "directory"])
def test_a_damaged_snapshot_is_ignored_with_a_warning(folder, damage, caplog):
    path = write_snapshot(folder)
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 1
    elif damage == "truncate":
        data = data[:-64]
    elif damage == "empty":
        data = bytearray()
    elif damage == "magic":
        data[:8] = b"NOTSNAP!"
    if damage == "directory":
        path.unlink()
        path.mkdir()
    else:
        path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING), Collection.open(folder, shared=True) as c:
        assert c._clusters.mapped_rows() == 0
        assert_same_as_sqlite(c, folder)
    assert SNAPSHOT_FILE in caplog.text and "loading from SQLite" in caplog.text


def test_a_snapshot_of_an_empty_collection(folder):
    with Collection.open(folder, shared=True) as c:
        c.delete([r.id for r in c.rows()])
        write_snapshot(folder)
    with Collection.open(folder, shared=True) as c:
        assert len(c) == 0
        c.add(blob_vectors(2), ["/e.png"] * 2, ["e0", "e1"])
        assert c.search(blob_vectors(2), 1).rows[c.search(blob_vectors(2), 1).rowids[0, 0]].id \
            == "e0"


def test_a_log_entry_of_an_unknown_kind_makes_a_process_reload(folder):
    import sqlite3

    write_snapshot(folder)
    with Collection.open(folder, shared=True) as reader, \
            Collection.open(folder, shared=True) as writer:
        assert reader._clusters.mapped_rows() == 600
        writer.add(blob_vectors(1, seed=5) + 30, ["/k.png"], ["known"])
        with sqlite3.connect(folder / "collection.sqlite") as db:  # a flipped bit, say
            db.execute("UPDATE changes SET op=77 WHERE seq=(SELECT MAX(seq) FROM changes)")
        writer._group.publish(writer.store.last_seq())
        assert reader.search(blob_vectors(1, seed=5) + 30, 1).rows[601].id == "known"
        assert reader._clusters.mapped_rows() == 0  # reloaded from SQLite, not the log


def test_write_snapshot_refuses_a_folder_that_is_no_collection(tmp_path):
    from lookalike.common.errors import NotFound

    with pytest.raises(NotFound, match="not a lookalike collection"):
        write_snapshot(tmp_path)


def test_a_full_disk_refuses_the_snapshot_and_keeps_the_old_one(model_dir):
    from lookalike.common.errors import StorageFull
    from tests.tmpfs import fill_disk, small_tmpfs

    with small_tmpfs(12 << 20) as disk:
        make_collection(disk / "c", model_dir, blob_vectors(300), k=4).close()
        old = write_snapshot(disk / "c").read_bytes()
        # The parent writes snapshots while the group serves (its open keeps SQLite's -shm).
        with Collection.open(disk / "c") as serving:
            serving.add(blob_vectors(50, seed=2), ["/f.png"] * 50, [None] * 50)
            filler = fill_disk(disk)
            with pytest.raises(StorageFull, match="disk is full.*vectors.snapshot"):
                write_snapshot(disk / "c")
            assert (disk / "c" / SNAPSHOT_FILE).read_bytes() == old
            assert not list((disk / "c").glob(f".{SNAPSHOT_FILE}*"))  # no temp file left
            filler.unlink()
            write_snapshot(disk / "c")
            with Collection.open(disk / "c", shared=True) as c:
                assert c._clusters.mapped_rows() == len(c) == 350


def rewritten(path, write) -> bool:
    """Whether write() replaced the file at path (the old one is held open meanwhile, so
    its inode number cannot be reused by the new one)."""
    with open(path, "rb") as old:
        write()
        return os.fstat(old.fileno()).st_ino != path.stat().st_ino


def test_a_current_snapshot_is_kept_and_a_stale_or_damaged_one_rewritten(folder):
    path = write_snapshot(folder)
    assert not rewritten(path, lambda: write_snapshot(folder))  # nothing changed: kept
    assert rewritten(path, lambda: write_snapshot(folder, force=True))
    with Collection.open(folder, shared=True) as c:
        c.add(blob_vectors(1, seed=4), ["/s.png"], ["stale"])
    assert rewritten(path, lambda: write_snapshot(folder))  # a change since: rewritten
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))  # the same inode, now damaged
    assert rewritten(path, lambda: write_snapshot(folder))
    with Collection.open(folder, shared=True) as c:
        assert c._clusters.mapped_rows() == 601
        assert_same_as_sqlite(c, folder)


@pytest.mark.parametrize("damage", ["vector", "cluster"])
def test_a_damaged_row_fails_the_write_with_its_own_error(folder, damage):
    """The error raised while the mapping is being filled is the one that comes out: a
    view of the mapping left alive by its traceback made closing the mapping raise
    BufferError instead, and `serve --processes N` showed that traceback."""
    import sqlite3

    from lookalike.common.errors import CollectionError

    with sqlite3.connect(folder / "collection.sqlite") as db:
        rowid, blob = db.execute("SELECT rowid, vector FROM images LIMIT 1 OFFSET 100").fetchone()
        if damage == "vector":  # the checksum no longer matches
            flipped = bytearray(blob)
            flipped[5] ^= 0x04
            db.execute("UPDATE images SET vector=? WHERE rowid=?", (bytes(flipped), rowid))
            expected = f"row {rowid} fails its checksum"
        else:  # a cluster past the centroids: refused before any row is read
            db.execute("UPDATE images SET cluster=99 WHERE rowid=?", (rowid,))
            expected = "clusters outside"
    with pytest.raises(CollectionError, match=expected):
        write_snapshot(folder)
    assert not (folder / SNAPSHOT_FILE).exists()
    assert not list(folder.glob(f".{SNAPSHOT_FILE}*"))  # no temp file left
