"""Labels in the Milvus store on the real server: recluster, older collections, crash-safe
rewrites, several servers, and hostile text compared with the reference evaluator."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.testbed import blob_vectors, milvus_vectors_folder, vector_ids
from lookalike.common.errors import InvalidArgument
from lookalike.common.filters import Condition, Filter, matches
from lookalike.common.labels import Change, check_payload
from lookalike.indexer.interface import Target
from lookalike.indexer.milvus.payloads import to_json
from lookalike.indexer.milvus.recluster import recluster_milvus
from lookalike.indexer.milvus.rewrite import COMMIT, PENDING, recover, stash_id
from lookalike.indexer.opener import open_collection
from lookalike.indexer.recluster import ReclusterConfig

_names = itertools.count()
CATS = Filter.checked(all_of=["cat"])


@pytest.fixture
def address(milvus_uri: str) -> str:
    return f"milvus://{milvus_uri}/labels{next(_names)}"


def test_recluster_keeps_labels_and_carries_names(tmp_path: Path, model_dir: Path,
                                                  address: str) -> None:
    vectors = blob_vectors(n=600, centres=6, seed=2)
    folder = milvus_vectors_folder(tmp_path / "m", model_dir, address, vectors, k=6)
    with open_collection(folder) as c, open_collection(folder) as other:
        c.update(Target(cluster=0), Change.checked(add_labels=["zero"],
                                                   set_attributes=[("n", 1)]))
        members = c.count(Filter.checked(all_of=["zero"]))
        assert c.name_cluster(0, "zeros") == "" and c.name_cluster(1, "ones") == ""
        assert other.cluster_names() == {0: "zeros", 1: "ones"}  # a second server sees them
        assert other.count(Filter.checked(all_of=["zero"])) == members
        token = c.browse(None, 10).next_token
        report = recluster_milvus(c, ReclusterConfig(clusters=8, seed=1), grace_s=0)
        assert c.count(Filter.checked(all_of=["zero"], conditions=[
            Condition("n", equals=1.0)])) == members
        moved = {m.name: m.new for m in report.names_moved}
        dropped = {m.name for m in report.names_dropped}
        assert set(moved) | dropped == {"zeros", "ones"}
        assert c.cluster_names() == {n: name for name, n in moved.items()}
        assert other.cluster_names() == c.cluster_names()
        assert len(c.browse(None, 10, token).items) == 10  # the page key is carried
        for cluster in range(c.nlist):  # every image in its cluster's partition
            assert c.count(Filter.checked(clusters=[cluster])) == c.cluster_sizes()[cluster]


def test_a_collection_built_before_labels_serves_and_a_recluster_migrates_it(
        tmp_path: Path, model_dir: Path, address: str) -> None:
    vectors = blob_vectors(n=300, centres=4, seed=3)
    folder = milvus_vectors_folder(tmp_path / "m", model_dir, address, vectors, k=4,
                                   legacy=True)
    with open_collection(folder) as c:
        assert not c.vectors.at(c.generation().name).labelled()
        assert c.count(CATS) == 0 and c.count(Filter.checked(none_of=["cat"])) == 300
        assert c.count(Filter.checked(clusters=[0], path_prefix="/img/1")) == len([
            r for r in c.rows() if r.cluster == 0 and r.path.startswith("/img/1")])
        assert c.label_counts() == {} and c.get(["id00001"])[0][0].payload.empty
        assert len(c.search(vectors[:2], 3, filter=Filter.checked(none_of=["x"])).rows) == 6
        with pytest.raises(InvalidArgument, match="recluster"):
            c.update(Target(cluster=0), Change.checked(add_labels=["cat"]))
        with pytest.raises(InvalidArgument, match="recluster"):
            c.add(vectors[:1], ["/new.png"], ["new"], [check_payload(["cat"])])
        c.add(vectors[:1], ["/plain.png"], ["plain"])
        assert c.name_cluster(2, "two") == ""
        report = recluster_milvus(c, ReclusterConfig(clusters=4, seed=0), grace_s=0)
        assert report.images == 301
        assert c.vectors.at(c.generation().name).labelled()
        done = c.update(Target(ids=("plain", "id00001")), Change.checked(add_labels=["cat"]))
        assert done.updated == 2 and c.count(CATS) == 2


def test_a_rewrite_cut_short_by_a_crash_is_finished_by_the_next_writer(
        tmp_path: Path, model_dir: Path, address: str) -> None:
    vectors = blob_vectors(n=200, centres=4, seed=4)
    folder = milvus_vectors_folder(tmp_path / "m", model_dir, address, vectors, k=4)
    ids = vector_ids(200)[:5]
    with open_collection(folder) as c:
        view = c.vectors.at(c.generation().name)
        rows = view.find(ids, vectors=True)
        new = [{"id": r["id"], "cluster": r["cluster"], "at": time.time(),
                "payload": to_json(check_payload(["saved"]))} for r in rows]
        # The first two steps of rewrite.rewrite, then a crash: stashed and deleted.
        view.insert([stash_id(r["id"]) for r in rows], [r["path"] for r in rows],
                    np.full(len(rows), PENDING), np.asarray([r["vector"] for r in rows]), new)
        view.delete(ids)
        assert c.get(ids)[1] == ids and len(c) == 195
        assert recover(view, stale_s=3600) == 0  # a young stash: a rewrite still running
        c.update(Target(ids=(vector_ids(200)[9],)), Change.checked(add_labels=["x"]))
        assert len(c) == 195  # the update left it too: still young
        assert recover(view, stale_s=0) == 5
        assert len(c) == 200 and c.count(Filter.checked(all_of=["saved"])) == 5
        assert view.stashed() == []
        for cluster in range(c.nlist):
            assert c.count(Filter.checked(clusters=[cluster])) == c.cluster_sizes()[cluster]


def test_a_crashed_rewrite_is_undone_before_its_commit_and_finished_after(
        tmp_path: Path, model_dir: Path, address: str) -> None:
    """A rewrite (an UpdateMany's) is all or nothing however many batches it spans: a crash
    while stashing leaves every image as it was; a crash after the commit row, with only
    some old rows deleted, ends with every image rewritten."""
    vectors = blob_vectors(n=200, centres=4, seed=5)
    folder = milvus_vectors_folder(tmp_path / "m", model_dir, address, vectors, k=4)
    ids = vector_ids(200)[10:16]
    with open_collection(folder) as c:
        view = c.vectors.at(c.generation().name)
        rows = view.find(ids, vectors=True)

        def stash(tx: str, label: str) -> None:
            new = [{"id": r["id"], "cluster": r["cluster"], "at": time.time(), "tx": tx,
                    "payload": to_json(check_payload([label]))} for r in rows]
            view.insert([stash_id(r["id"], tx) for r in rows], [r["path"] for r in rows],
                        np.full(len(rows), PENDING), np.asarray([r["vector"] for r in rows]),
                        new)

        stash("t1", "half")  # crashed before its commit row
        assert recover(view, stale_s=0) == 0 and view.stashed() == []
        assert c.count(Filter.checked(any_of=["half"])) == 0 and len(c) == 200
        stash("t2", "whole")
        view.insert([COMMIT + "t2"], [""], np.full(1, PENDING), np.zeros((1, c.dim)),
                    [{"tx": "t2", "commit": True, "at": time.time(), "rows": len(rows)}])
        view.delete(ids[:3])  # crashed amid the deletes
        assert len(c) == 197
        assert recover(view, stale_s=0) == 6 and view.stashed() == []
        assert len(c) == 200 and c.count(Filter.checked(all_of=["whole"])) == 6
        for cluster in range(c.nlist):
            assert c.count(Filter.checked(clusters=[cluster])) == c.cluster_sizes()[cluster]


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory, model_dir: Path, milvus_uri: str):
    vectors = blob_vectors(n=40, centres=2, seed=6)
    folder = milvus_vectors_folder(tmp_path_factory.mktemp("hostile") / "m", model_dir,
                                   f"milvus://{milvus_uri}/hostile{next(_names)}", vectors, k=2)
    with open_collection(folder) as c:
        yield c


TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=20
               ).filter(lambda s: s.strip() == s)


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(TEXT, min_size=1, max_size=3), TEXT, st.integers(0, 39))
def test_any_text_in_labels_and_values_is_data(hostile_store, labels, value, pick) -> None:
    """Quotes, backslashes, brackets and any Unicode reach Milvus as data: every filter on
    them counts exactly what the reference evaluator says."""
    c = hostile_store
    some = vector_ids(40)[pick:pick + 3]
    c.update(Target(ids=tuple(some)),
             Change.checked(add_labels=labels, set_attributes=[("v", value)]))
    every = {i.row.id: i for i in c.browse(None, 1000).items}
    for f in (Filter.checked(any_of=labels), Filter.checked(all_of=labels),
              Filter.checked(none_of=labels[:1]),
              Filter.checked(conditions=[Condition("v", equals=value)]),
              Filter.checked(path_prefix=value), Filter.checked(path_prefix="/img/" + value)):
        want = sorted(i for i, item in every.items()
                      if matches(f, item.payload, item.row.path, item.row.cluster))
        assert sorted(i.row.id for i in c.browse(f, 1000).items) == want
        assert c.count(f) == len(want)
    c.update(Target(ids=tuple(some)), Change.checked(remove_labels=labels,
                                                     clear_attributes=["v"]))
