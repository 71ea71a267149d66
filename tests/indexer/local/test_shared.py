"""Several processes writing one collection at once (shared opens), as a server group does."""

from __future__ import annotations

import os
import signal
import sqlite3
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.testbed import blob_vectors, make_collection
from lookalike.common.errors import CollectionLocked, InvalidArgument, Unavailable
from lookalike.indexer.local.collection import Collection
from lookalike.indexer.local.following import RECHECK_S
from lookalike.indexer.local.snapshot import SNAPSHOT_FILE, write_snapshot
from lookalike.indexer.lock import FolderLock, GroupWriteLock
from lookalike.indexer.manifest import DATABASE_FILE
from lookalike.indexer.opener import open_collection
from tests.indexer.local.shared_worker import Worker

EVERY = 1 << 16  # nprobe past the number of clusters: scan them all


@pytest.fixture(params=["sqlite", "snapshot"])
def folder(request, tmp_path, model_dir, vectors):
    """A collection whose FolderLock this test process holds, as a server group's parent:
    the workers load it from SQLite, or map the snapshot the parent wrote."""
    make_collection(tmp_path / "c", model_dir, vectors).close()
    lock = FolderLock(tmp_path / "c")
    if request.param == "snapshot":
        write_snapshot(tmp_path / "c")
    yield tmp_path / "c"
    lock.close()


@pytest.fixture
def pair(folder):
    a, b = Worker(folder), Worker(folder)
    yield a, b
    a.close()
    b.close()


def fresh(folder) -> Collection:
    """The collection as a new process would load it from SQLite."""
    return Collection.open(folder, read_only=True)


def test_add_in_one_process_is_found_by_the_next_search_in_another(pair, folder):
    a, b = pair
    mapped = 800 if (folder / SNAPSHOT_FILE).exists() else 0
    assert a.call("mapped") == b.call("mapped") == mapped
    new = blob_vectors(3, seed=9) + 50  # far from every stored vector
    a.call("add", new, ["/n0.png", "/n1.png", "/n2.png"], ["n0", "n1", "n2"])
    assert b.top_ids(new) == [["n0"], ["n1"], ["n2"]]
    assert b.call("len") == a.call("len") == 803
    row, vector = b.call("lookup", "n1")
    assert row.path == "/n1.png" and np.array_equal(vector, new[1])


def test_delete_in_one_process_is_gone_from_the_next_search_in_another(pair, vectors):
    a, b = pair
    assert b.top_ids(vectors[:2]) == [["1"], ["2"]]  # B has the rows loaded
    deleted, missing = a.call("delete", ["1", "2", "nope"])
    assert [r.id for r in deleted] == ["1", "2"] and missing == ["nope"]
    got = b.top_ids(vectors[:2], 5)
    assert all("1" not in ids and "2" not in ids for ids in got)
    assert sum(b.call("cluster_sizes")) == 798


def test_concurrent_adds_from_two_processes_all_land(pair, folder):
    a, b = pair
    batches = [blob_vectors(5, seed=100 + i) for i in range(40)]
    for i in range(0, 40, 2):  # both queue their adds at once; the group's lock orders them
        a.send("add", batches[i], ["/a.png"] * 5, [f"a{i}-{j}" for j in range(5)])
        b.send("add", batches[i + 1], ["/b.png"] * 5, [None] * 5)
    rows = [r for _ in range(20) for w in (a, b) for r in w.result()]
    assert len({r.rowid for r in rows}) == len({r.id for r in rows}) == 200
    with fresh(folder) as c:
        assert len(c) == 1000
        want = np.concatenate(batches)
        expected = c.search(want, 3, EVERY)
    for worker in (a, b):
        _, rowids, _ = worker.call("search", want, 3, EVERY)
        assert np.array_equal(rowids, expected.rowids)


def test_recluster_in_one_process_makes_the_other_reload(pair, folder, vectors):
    a, b = pair
    assert len(b.call("cluster_sizes")) == 8
    assert a.call("recluster", 5) == 5
    sizes = b.call("cluster_sizes")
    assert len(sizes) == 5 and sum(sizes) == 800
    new = blob_vectors(1, seed=3) + 40
    b.call("add", new, ["/x.png"], ["after-recluster"])  # routed with the new centroids
    assert a.top_ids(new) == [["after-recluster"]]
    with fresh(folder) as c:
        assert c.cluster_sizes() == b.call("cluster_sizes") == a.call("cluster_sizes")


def test_a_process_further_behind_than_the_log_reloads(pair, folder):
    a, b = pair
    a.call("window", 3)
    new = blob_vectors(10, seed=4) + 60
    for i in range(10):
        a.call("add", new[i : i + 1], ["/w.png"], [f"w{i}"])
    with sqlite3.connect(folder / DATABASE_FILE) as db:
        assert db.execute("SELECT COUNT(*) FROM changes").fetchone()[0] == 3
    assert b.top_ids(new) == [[f"w{i}"] for i in range(10)]


def test_kill_9_mid_add_loses_no_acknowledged_row(pair, folder):
    a, b = pair
    victim = Worker(folder)
    victim.send("add_loop", blob_vectors(2000, seed=5) + 70)
    acked = []
    while len(acked) < 20:
        acked.append(victim._receive()[1])
    os.kill(victim.pid, signal.SIGKILL)  # most likely mid-add: it adds without a pause
    victim.process.join(10)
    try:
        while True:  # what it acknowledged before it died
            acked.append(victim.conn.recv()[1])
    except EOFError:
        victim.conn.close()
    for worker in (a, b):  # the others go on: the group's write lock died with the victim
        worker.call("add", blob_vectors(1, seed=6), ["/after.png"], [f"after-{worker.pid}"])
    with fresh(folder) as c:
        stored = {r.id for r in c.rows()}
        assert set(acked) <= stored and {f"after-{a.pid}", f"after-{b.pid}"} <= stored
        with sqlite3.connect(folder / DATABASE_FILE) as db:  # no row without its log entry
            logged = {r for (r,) in db.execute("SELECT rowid FROM changes WHERE op=1")}
        assert {r.rowid for r in c.rows() if r.rowid > 800} == logged
        expected = c.search(blob_vectors(50, seed=8), 4, EVERY).rowids
    for worker in (a, b):
        assert {worker.call("lookup", i)[0].id for i in acked} == set(acked)
        assert np.array_equal(worker.call("search", blob_vectors(50, seed=8), 4, EVERY)[1],
                              expected)


def test_a_collection_from_before_the_change_log_opens_shared(tmp_path, model_dir, vectors):
    make_collection(tmp_path / "c", model_dir, vectors).close()
    with sqlite3.connect(tmp_path / "c" / DATABASE_FILE) as db:  # as older versions wrote it
        db.execute("DROP TABLE changes")
        db.execute("DELETE FROM sqlite_sequence WHERE name='changes'")
    with Collection.open(tmp_path / "c", read_only=True) as old:  # read-only: left as it is
        assert len(old) == 800
    lock = FolderLock(tmp_path / "c")
    a, b = Worker(tmp_path / "c"), Worker(tmp_path / "c")
    try:
        a.call("add", vectors[:1] + 90, ["/u.png"], ["upgraded"])
        assert b.top_ids(vectors[:1] + 90) == [["upgraded"]]
    finally:
        a.close()
        b.close()
        lock.close()


def test_shared_opens_need_the_groups_parent_and_refuse_others(folder, tmp_path, model_dir,
                                                               vectors):
    with Collection.open(folder, shared=True) as c:  # the parent may open shared too
        assert len(c) == 800
        with pytest.raises(CollectionLocked):  # a second server on the folder: refused
            Collection.open(folder)
    with pytest.raises(InvalidArgument, match="not both"):
        open_collection(folder, read_only=True, shared=True)
    make_collection(tmp_path / "lone", model_dir, vectors).close()
    with pytest.raises(Unavailable, match="no process holds its lock"):
        open_collection(tmp_path / "lone", shared=True)


ops = st.lists(st.tuples(st.sampled_from("ab"), st.sampled_from(["add", "delete"]),
                         st.integers(1, 6), st.integers(0, 10**6)), min_size=1, max_size=12)


def test_random_interleavings_leave_both_processes_equal_to_a_fresh_open(pair, folder):
    a, b = pair
    workers = {"a": a, "b": b}
    probe = blob_vectors(40, seed=11)
    stored: list[str] = []

    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(ops)
    def run(steps):
        for who, op, n, seed in steps:
            worker = workers[who]
            if op == "add":
                rows = worker.call("add", blob_vectors(n, seed=seed), ["/p.png"] * n, [None] * n)
                stored.extend(r.id for r in rows)
            else:
                rng = np.random.default_rng(seed)  # some stored ids, some already gone
                pick = [stored[i] for i in rng.integers(0, len(stored), n)] if stored else []
                worker.call("delete", pick + [f"gone-{seed}"])
        with fresh(folder) as c:
            truth = c.search(probe, 5, EVERY)
            sizes = c.cluster_sizes()
        for worker in (a, b):
            distances, rowids, _ = worker.call("search", probe, 5, EVERY)
            assert np.array_equal(rowids, truth.rowids)
            assert np.array_equal(distances, truth.distances)
            assert worker.call("cluster_sizes") == sizes

    run()


def test_a_write_committed_but_never_published_is_seen_within_the_recheck(pair, folder):
    a, b = pair
    b.top_ids(blob_vectors(1))  # B is current
    group = GroupWriteLock(folder)
    before = group.published()
    a.call("add", blob_vectors(1, seed=21) + 80, ["/u.png"], ["unpublished"])
    group.publish(before)  # as if A died between its commit and publishing it
    group.close()
    time.sleep(RECHECK_S + 0.2)
    assert b.top_ids(blob_vectors(1, seed=21) + 80) == [["unpublished"]]


def test_searches_do_not_wait_for_a_write_queued_behind_another_process(folder, vectors):
    import threading

    with Collection.open(folder, shared=True) as c:
        other = GroupWriteLock(folder)  # another process's long write (a reclustering, say)
        other.acquire()
        adding = threading.Thread(target=c.add, args=(vectors[:1], ["/q.png"], ["queued"]))
        adding.start()
        time.sleep(RECHECK_S + 0.2)  # the next search asks SQLite too, under the apply lock
        searched = []
        search = threading.Thread(target=lambda: searched.append(c.search(vectors[:1], 1)))
        search.start()
        search.join(30)
        try:
            assert searched and searched[0].rows[1].id == "1"  # answered while the add waits
            assert adding.is_alive()
        finally:
            other.release()
            adding.join(30)
            other.close()
        assert c.lookup("queued")[0].path == "/q.png"
