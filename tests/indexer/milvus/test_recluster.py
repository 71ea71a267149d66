"""Reclustering a Milvus-mode collection on a real Milvus server: generations and the switch."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException

from benchmarks.testbed import blob_vectors, make_collection, milvus_vectors_folder, vector_ids
from lookalike.common.errors import CollectionLocked, InvalidArgument, Unavailable
from lookalike.indexer.clustering import assign
from lookalike.indexer.local.recluster import recluster
from lookalike.indexer.manifest import MANIFEST_FILE
from lookalike.indexer.milvus.folder import MILVUS_FILE
from lookalike.indexer.milvus.generations import (
    create_generation,
    describe,
    fence,
    generations,
    set_property,
    switch,
)
from lookalike.indexer.milvus.recluster import LEASE, recluster_milvus
from lookalike.indexer.opener import open_collection
from lookalike.indexer.recluster import ReclusterConfig

_names = itertools.count()


@pytest.fixture
def address(milvus_uri: str) -> str:
    return f"milvus://{milvus_uri}/recluster{next(_names)}"


def exact_ids(collection, queries: np.ndarray, k: int = 10) -> list[list[str]]:
    hits = collection.search(queries, k, nprobe=collection.nlist)
    return [[hits.rows[r].id for r in row if r >= 0] for row in hits.rowids]


def assert_clustered(collection, ids: list[str]) -> None:
    """Every image is kept, in its nearest current centroid's cluster."""
    rows = collection.rows()
    _, clusters, vectors = collection.all_vectors()
    assert sorted(r.id for r in rows) == sorted(ids)
    assert np.array_equal(clusters, assign(vectors, collection.centroids))


def test_recluster_rewrites_every_cluster_keeps_every_id_and_matches_the_local_store(
        tmp_path: Path, model_dir: Path, address: str) -> None:
    vectors = blob_vectors(n=1500, centres=10, seed=5)
    ids = vector_ids(len(vectors))
    folder = milvus_vectors_folder(tmp_path / "m", model_dir, address, vectors, k=6)
    local = make_collection(tmp_path / "l", model_dir, vectors, k=6, ids=list(ids))
    queries = vectors[::50] + 0.01
    with open_collection(folder) as milvus:
        assert milvus.generation().number == 0 and milvus.nlist == 6
        before = exact_ids(milvus, queries)
        report = recluster_milvus(milvus, ReclusterConfig(clusters=9), grace_s=0)
        expected = recluster(local, ReclusterConfig(clusters=9))
        assert (report.images, report.clusters_before, report.clusters_after) == (1500, 6, 9)
        assert report.default_nprobe == expected.default_nprobe == milvus.default_nprobe
        assert (report.imbalance_before, report.imbalance_after) == pytest.approx(
            (expected.imbalance_before, expected.imbalance_after))
        assert milvus.nlist == 9 and milvus.generation().number == 1
        np.testing.assert_allclose(milvus.centroids, local.centroids, rtol=1e-5)
        assert_clustered(milvus, ids)
        assert exact_ids(milvus, queries) == before
        mine, theirs = milvus.search(queries, 10), local.search(queries, 10)
        assert [[mine.rows[r].id for r in row] for row in mine.rowids] == \
            [[theirs.rows[r].id for r in row] for row in theirs.rowids]
        name = milvus.address.name
        assert generations(milvus.vectors) == {1: f"{name}__g1"}  # generation 0 is dropped
        assert describe(milvus.vectors, name)["collection_name"] == f"{name}__g1"
    local.close()


def failing(monkeypatch, method: str, on: str) -> None:
    """Makes pymilvus's MilvusClient.method fail for names ending in on, as a crash there."""
    real = getattr(MilvusClient, method)

    def fail(self, name, *args, **kwargs):
        if name.endswith(on):
            raise MilvusException(message=f"simulated failure of {method}")
        return real(self, name, *args, **kwargs)

    monkeypatch.setattr(MilvusClient, method, fail)


def test_failures_at_every_switch_step_leave_one_serving_generation_and_a_rerun_finishes(
        tmp_path: Path, model_dir: Path, address: str, monkeypatch) -> None:
    """A collection built before generations (a plain Milvus collection NAME) is reclustered
    while the switch fails at each step in turn:
    1. between renaming NAME to NAME__g0 and creating the alias NAME: the sealed new
       generation serves, found without the alias, by servers open already and starting;
    2. moving the alias: the old generation stays current, the new one is dropped;
    3. dropping the old generation once switched: the new one serves, the old one is left;
    and the next recluster clears what is left."""
    vectors = blob_vectors(n=400, centres=5, seed=1)
    folder = milvus_vectors_folder(tmp_path / "m", model_dir, address, vectors, k=4,
                                   legacy=True)
    queries = vectors[::20]
    with open_collection(folder) as milvus:
        name = milvus.address.name
        assert milvus.generation().legacy and milvus.nlist == 4
        before = exact_ids(milvus, queries)
        steps = [("create_alias", "__g1", 5, {0, 1}), ("alter_alias", "__g2", 5, {1}),
                 ("drop_collection", "__g1", 3, {1, 2})]
        for method, on, nlist, left in steps:
            with monkeypatch.context() as patch:
                failing(patch, method, on)
                with pytest.raises(Unavailable, match=f"simulated failure of {method}"):
                    recluster_milvus(milvus, ReclusterConfig(clusters=5 if nlist == 5 else 3),
                                     grace_s=0)
            assert set(generations(milvus.vectors)) == left, method
            with open_collection(folder) as fresh:  # a server starting now
                assert fresh.nlist == nlist and exact_ids(fresh, queries) == before
            assert milvus.nlist == nlist and exact_ids(milvus, queries) == before
        assert describe(milvus.vectors, name)["collection_name"] == f"{name}__g2"
        milvus.add(vectors[:1] + 100, ["/after.png"], ["after-failures"])  # no fence is left
        recluster_milvus(milvus, ReclusterConfig(clusters=6), grace_s=0)
        assert generations(milvus.vectors) == {3: f"{name}__g3"}
        assert describe(milvus.vectors, name)["collection_name"] == f"{name}__g3"
        assert_clustered(milvus, vector_ids(len(vectors)) + ["after-failures"])
        assert exact_ids(milvus, queries) == before


def test_kill_9_mid_recluster_leaves_the_old_generation_serving_and_a_rerun_finishes(
        tmp_path: Path, model_dir: Path, address: str) -> None:
    vectors = blob_vectors(n=2000, centres=8, seed=4)
    folder = milvus_vectors_folder(tmp_path / "m", model_dir, address, vectors, k=5)
    queries = vectors[::40]
    with open_collection(folder) as milvus:
        before = exact_ids(milvus, queries)
        name = milvus.address.name
        proc = subprocess.Popen([sys.executable, "-m", "lookalike.app.cli", "recluster",
                                 str(folder), "--clusters", "7"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while 1 not in generations(milvus.vectors) and time.monotonic() < deadline:
            time.sleep(0.02)  # the new generation exists: the run is writing into it
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert describe(milvus.vectors, name)["collection_name"] == f"{name}__g0"
        assert exact_ids(milvus, queries) == before and milvus.nlist == 5
        milvus.add(vectors[:1] + 100, ["/after.png"], ["after-kill"])  # not fenced for long
        report = recluster_milvus(milvus, ReclusterConfig(clusters=7), grace_s=0)  # claim lapsed
        assert report.clusters_after == 7 == milvus.nlist
        assert generations(milvus.vectors) == {1: f"{name}__g1"}
        assert_clustered(milvus, vector_ids(len(vectors)) + ["after-kill"])


def test_refusals_read_only_another_recluster_empty_and_milvus_down(
        tmp_path: Path, model_dir: Path, address: str, capsys) -> None:
    from lookalike.app.cli import main

    vectors = blob_vectors(n=40, centres=2, seed=3)
    folder = milvus_vectors_folder(tmp_path / "m", model_dir, address, vectors, k=2)
    with open_collection(folder, read_only=True) as reader:
        with pytest.raises(Unavailable, match="opened read-only"):
            recluster_milvus(reader)
    with open_collection(folder) as milvus:
        name = milvus.generation().name
        set_property(milvus.vectors, name, LEASE, f"elsewhere 1 {time.time() + 60}")
        with pytest.raises(CollectionLocked, match="another recluster .*elsewhere"):
            recluster_milvus(milvus)
        set_property(milvus.vectors, name, LEASE, f"elsewhere 1 {time.time() - 1}")  # lapsed
        milvus.delete(vector_ids(len(vectors)))
        with pytest.raises(InvalidArgument, match="empty: nothing to recluster"):
            recluster_milvus(milvus)
        assert generations(milvus.vectors) == {0: name}  # nothing left behind

    settings = json.loads((folder / MILVUS_FILE).read_text())
    settings["address"] = "milvus://127.0.0.1:9/nothing"
    (folder / MILVUS_FILE).write_text(json.dumps(settings))
    rechecksummed(folder).write(folder)  # as an operator moving the folder to a dead Milvus
    assert main(["recluster", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "127.0.0.1:9" in err and "Traceback" not in err


def rechecksummed(folder: Path):
    """The folder's manifest with milvus.json's checksum brought up to date."""
    from lookalike.common.atomic import sha256_file
    from lookalike.indexer.manifest import Manifest

    doc = json.loads((folder / MANIFEST_FILE).read_text())
    doc.pop("sha256")
    doc["checksums"][MILVUS_FILE] = sha256_file(folder / MILVUS_FILE)
    return Manifest(**doc)


def test_writes_during_a_fence_wait_for_the_switch_and_land_on_the_new_generation(
        tmp_path: Path, model_dir: Path, address: str) -> None:
    """The write path a recluster relies on, step by step: an add and a delete made while
    the current generation is fenced wait, and once the alias moves they are redone there."""
    vectors = blob_vectors(n=200, centres=3, seed=8)
    ids = vector_ids(len(vectors))
    folder = milvus_vectors_folder(tmp_path / "m", model_dir, address, vectors, k=3)
    with open_collection(folder) as milvus:
        old = milvus.generation()
        fence(milvus.vectors, old.name, 60)
        done: list[str] = []
        new = vectors[:1] + 50
        writers = [
            threading.Thread(target=lambda: done.append(
                milvus.add(new, ["/fenced.png"], ["fenced"])[0].id)),
            threading.Thread(target=lambda: done.append(milvus.delete([ids[5]])[0][0].id)),
        ]
        for writer in writers:
            writer.start()
        time.sleep(1.0)
        assert not done  # both written to the old generation, both waiting
        centroids = old.centroids[::-1].copy()  # another clustering: clusters renumbered
        copy = create_generation(milvus.vectors, 1, centroids, 2)
        copy.insert(ids, [f"/img/{i}.png" for i in range(len(ids))],
                    assign(vectors, centroids), vectors)
        switch(milvus.vectors, old, copy.name)
        for writer in writers:
            writer.join(timeout=30)
        assert sorted(done) == sorted(["fenced", ids[5]])
        assert milvus.generation().number == 1
        row, vector = milvus.lookup("fenced")
        assert row.cluster == assign(new, centroids)[0]
        assert sorted(r.id for r in milvus.rows()) == sorted([*ids[:5], *ids[6:], "fenced"])
