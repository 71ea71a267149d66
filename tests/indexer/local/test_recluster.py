"""Reclustering: new centroids swapped in atomically, old ones kept on a crash."""

import os
import signal
import subprocess
import sys
import time

import faiss
import numpy as np
import pytest

from benchmarks.testbed import blob_vectors, make_collection, recall_at_k
from lookalike.common.errors import CollectionLocked, InvalidArgument, Unavailable
from lookalike.indexer.clustering import assign
from lookalike.indexer.local.collection import Collection
from lookalike.indexer.local.recluster import recluster
from lookalike.indexer.recluster import ReclusterConfig


def clustering(collection):
    """The stored centroids and every row's stored cluster."""
    _, clusters, _ = collection.store.all_vectors(collection.dim)
    return collection.store.centroids(collection.dim).copy(), clusters


def assert_consistent(collection):
    """Every stored row sits in its nearest stored centroid's cluster, in SQLite and memory."""
    rowids, clusters, vectors = collection.store.all_vectors(collection.dim)
    assert np.array_equal(assign(vectors, collection.store.centroids(collection.dim)), clusters)
    assert collection.cluster_sizes() == np.bincount(clusters, minlength=collection.nlist).tolist()


def test_recluster_after_drift_matches_exact_search(collection, vectors):
    # Drift: many new vectors far from every old centroid all land in one cluster.
    drift = blob_vectors(n=400, centres=2, seed=7) + 30
    collection.add(drift, ["/new.png"] * 400, [None] * 400)
    before = collection.cluster_sizes()
    report = recluster(collection, ReclusterConfig(clusters=10))
    assert report.clusters_before == 8 and report.clusters_after == 10 == collection.nlist
    assert report.images == len(vectors) + 400 == len(collection)
    assert report.imbalance_after < report.imbalance_before == pytest.approx(
        max(before) / np.mean(before))
    assert collection.default_nprobe == report.default_nprobe
    assert collection.store.settings()["default_nprobe"] == str(report.default_nprobe)
    assert_consistent(collection)
    everything = np.concatenate([vectors, drift])
    _, truth = faiss.knn(everything[::7], everything, 10)
    hits = collection.search(everything[::7], 10, nprobe=collection.nlist)
    assert recall_at_k(hits.rowids - 1, truth) == 1.0  # row numbers start at 1


def test_recluster_keeps_k_by_default_and_survives_reopen(collection, tmp_path):
    report = recluster(collection)
    assert report.clusters_after == 8
    centroids, clusters = clustering(collection)
    collection.close()
    reopened = Collection.open(tmp_path / "c")
    assert np.array_equal(reopened.centroids, centroids)
    assert_consistent(reopened)
    reopened.close()


class FailingDb:
    """A connection that dies halfway through rewriting the rows' clusters, like a crash."""

    def __init__(self, db):
        self.db = db

    def execute(self, *args):
        return self.db.execute(*args)

    @property
    def in_transaction(self):
        return self.db.in_transaction

    def executemany(self, sql, rows):
        if sql.startswith("UPDATE images SET cluster"):
            rows = iter(rows)

            def half():
                for n, row in enumerate(rows):
                    if n == 300:
                        raise OSError("simulated crash")
                    yield row

            return self.db.executemany(sql, half())
        return self.db.executemany(sql, rows)

    def close(self):
        self.db.close()


def test_failure_mid_swap_leaves_the_old_clustering(collection, vectors):
    centroids, clusters = clustering(collection)
    expected = collection.search(vectors[:20], 5)
    collection.store._db = FailingDb(collection.store._db)
    with pytest.raises(OSError, match="simulated crash"):
        recluster(collection, ReclusterConfig(clusters=5))
    after_centroids, after_clusters = clustering(collection)
    assert np.array_equal(after_centroids, centroids) and np.array_equal(after_clusters, clusters)
    assert collection.nlist == 8
    got = collection.search(vectors[:20], 5)
    assert np.array_equal(got.rowids, expected.rowids)


def test_recluster_of_an_empty_collection_is_refused(tmp_path, model_dir, vectors):
    c = make_collection(tmp_path / "e", model_dir, vectors[:10], k=2)
    c.delete([r.id for r in c.store.rows()])
    with pytest.raises(InvalidArgument, match="empty: nothing to recluster"):
        recluster(c)
    c.close()


def test_a_second_writer_is_refused_and_a_reader_cannot_recluster(collection):
    with pytest.raises(CollectionLocked, match=f"already open by process {os.getpid()}"):
        Collection.open(collection.folder)
    with Collection.open(collection.folder, read_only=True) as reader:
        with pytest.raises(Unavailable, match="opened read-only"):
            recluster(reader)


def test_cli_recluster_is_refused_while_served(collection, capsys):
    from lookalike.app.cli import main

    assert main(["recluster", str(collection.folder)]) == 1
    assert f"already open by process {os.getpid()}" in capsys.readouterr().err


def test_kill_during_recluster_leaves_old_or_new_never_a_mix(tmp_path, model_dir):
    """kill -9 `lookalike recluster` at random moments: every time, the collection opens
    with one whole clustering, and at least once the old one survived the kill."""
    vectors = blob_vectors(n=20_000, centres=40, seed=3)
    folder = tmp_path / "big"
    make_collection(folder, model_dir, vectors, k=40).close()
    with Collection.open(folder) as c:
        old = clustering(c)
    # --no-map: the kills aim at the clustering's swap, which a map step after it would dilute.
    command = [sys.executable, "-m", "lookalike.app.cli", "recluster", str(folder), "--no-map",
               "--clusters", "48"]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    full = time.perf_counter() - start
    subprocess.run(command[:-1] + ["40"], check=True, capture_output=True)
    rng = np.random.default_rng(0)
    kept_old = 0
    for _ in range(4):
        with Collection.open(folder) as c:
            before = clustering(c)
        target = 48 if len(before[0]) == 40 else 40
        proc = subprocess.Popen(command[:-1] + [str(target)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 0.9) * full)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        with Collection.open(folder) as c:
            assert_consistent(c)
            assert len(c) == len(vectors)
            now = clustering(c)
        if len(now[0]) == len(before[0]):
            assert np.array_equal(now[0], before[0]) and np.array_equal(now[1], before[1])
            kept_old += 1
        else:
            assert len(now[0]) == target
    assert kept_old >= 1
    assert len(old[0]) == 40
