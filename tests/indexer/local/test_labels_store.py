"""Labels, attributes and cluster names in the local store: durable, all or nothing, kept by
recluster, seen by the other processes of a group, and added to older collections."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from benchmarks.testbed import blob_vectors, make_collection
from lookalike.common.errors import InvalidArgument, Unavailable
from lookalike.common.filters import Condition, Filter, Range
from lookalike.common.labels import MAX_LABELS, Change, check_payload
from lookalike.indexer.interface import Target
from lookalike.indexer.local.collection import Collection
from lookalike.indexer.lock import FolderLock
from lookalike.indexer.manifest import DATABASE_FILE
from lookalike.indexer.recluster import ReclusterConfig
from tests.indexer.local.shared_worker import Worker

CATS = Filter.checked(all_of=["cat"])


def test_labels_and_attributes_are_durable_and_filterable(collection: Collection):
    ids = [r.id for r in collection.rows()[:10]]
    done = collection.update(Target(ids=(*ids, "ghost")),
                             Change.checked(add_labels=["cat"], set_attributes=[("price", 5)]))
    assert done == (10, ["ghost"])
    collection.update(Target(ids=tuple(ids[:3])), Change.checked(set_attributes=[("price", 9)]))
    folder = collection.folder
    collection.close()
    with Collection.open(folder) as again:
        assert again.count(CATS) == 10
        cheap = Filter.checked(all_of=["cat"], conditions=[
            Condition("price", range=Range(high=9, high_exclusive=True))])
        assert again.count(cheap) == 7
        items, missing = again.get([ids[0], "ghost"])
        assert missing == ["ghost"]
        assert items[0].payload.labels == {"cat"} and items[0].payload.attributes == {
            "price": 9.0}
        assert again.label_counts() == {"cat": 10}
        again.delete(ids[:4])
        assert again.count(CATS) == 6 and again.label_counts() == {"cat": 6}


def test_add_stores_payloads_in_the_same_transaction(collection: Collection):
    rows = collection.add(blob_vectors(2, seed=3), ["/a.png", "/b.png"], ["a", "b"],
                          [check_payload(["new"]), check_payload((), [("k", "v")])])
    assert collection.count(Filter.checked(any_of=["new"])) == 1
    assert collection.count(Filter.checked(conditions=[Condition("k", equals="v")])) == 1
    assert collection.payload_of(rows[0].rowid).labels == {"new"}


def test_an_update_over_a_limit_changes_nothing(collection: Collection):
    ids = [r.id for r in collection.rows()[:5]]
    full = [f"l{i}" for i in range(MAX_LABELS)]
    collection.update(Target(ids=(ids[2],)), Change.checked(add_labels=full))
    before = {i: collection.get([i])[0][0].payload for i in ids}
    with pytest.raises(InvalidArgument, match=f"image '{ids[2]}'.*65 labels"):
        collection.update(Target(ids=tuple(ids)), Change.checked(add_labels=["one more"]))
    assert {i: collection.get([i])[0][0].payload for i in ids} == before
    assert collection.count(Filter.checked(any_of=["one more"])) == 0


def test_a_whole_cluster_is_labelled_in_one_update(collection: Collection):
    sizes = collection.cluster_sizes()
    big = int(np.argmax(sizes))
    done = collection.update(Target(cluster=big), Change.checked(add_labels=["cat"]))
    assert done.updated == sizes[big] == collection.count(CATS)
    assert collection.count(Filter.checked(all_of=["cat"], clusters=[big])) == sizes[big]
    with pytest.raises(InvalidArgument, match="cluster 99 is not in this collection"):
        collection.update(Target(cluster=99), Change.checked(add_labels=["cat"]))


def test_browse_pages_in_row_order_and_refuses_a_token_of_another_filter(collection):
    collection.update(Target(ids=tuple(r.id for r in collection.rows()[::5])),
                      Change.checked(add_labels=["cat"]))
    first = collection.browse(CATS, 7)
    second = collection.browse(CATS, 7, first.next_token, with_vectors=True)
    rowids = [i.row.rowid for i in first.items + second.items]
    assert rowids == sorted(rowids) and len(set(rowids)) == 14
    assert second.items[0].vector.shape == (collection.dim,)
    with pytest.raises(InvalidArgument, match="another collection or another filter"):
        collection.browse(Filter.checked(all_of=["dog"]), 7, first.next_token)
    everything = collection.browse(None, 1000)
    assert len(everything.items) == len(collection) and everything.next_token == ""


def test_recluster_keeps_labels_and_carries_names(collection: Collection):
    collection.update(Target(cluster=0), Change.checked(add_labels=["zero"]))
    members = collection.count(Filter.checked(all_of=["zero"]))
    assert collection.name_cluster(0, " zeros ") == ""
    assert collection.name_cluster(1, "ones") == ""
    assert collection.name_cluster(1, "") == "ones"  # cleared
    report = collection.recluster(ReclusterConfig(clusters=8, seed=1))
    assert collection.count(Filter.checked(all_of=["zero"])) == members
    moved = {m.name: m.new for m in report.names_moved}
    dropped = {m.name for m in report.names_dropped}
    assert set(moved) | dropped == {"zeros"}
    assert collection.cluster_names() == {c: n for n, c in moved.items()}
    with Collection.open(collection.folder, read_only=True) as other:
        assert other.cluster_names() == collection.cluster_names()


def test_a_collection_built_before_labels_opens_and_gets_empty_tables(collection):
    folder = collection.folder
    collection.close()
    db = sqlite3.connect(folder / DATABASE_FILE)
    for table in ("labels", "attributes", "cluster_names", "secrets"):
        db.execute(f"DROP TABLE {table}")
    db.execute("DROP INDEX images_path")
    db.commit()
    db.close()
    with Collection.open(folder, read_only=True) as old:  # the file stays as it is
        assert old.count(CATS) == 0 and old.cluster_names() == {}
        assert len(old.browse(CATS).items) == 0
        with pytest.raises(Unavailable):
            old.update(Target(cluster=0), Change.checked(add_labels=["cat"]))
    with Collection.open(folder) as upgraded:
        upgraded.update(Target(cluster=0), Change.checked(add_labels=["cat"]))
        assert upgraded.count(CATS) == upgraded.cluster_sizes()[0]


def test_labels_written_by_one_process_are_seen_by_the_next_call_of_another(tmp_path,
                                                                             model_dir):
    make_collection(tmp_path / "c", model_dir, blob_vectors()).close()
    lock = FolderLock(tmp_path / "c")
    a, b = Worker(tmp_path / "c"), Worker(tmp_path / "c")
    try:
        assert b.call("count", CATS) == 0
        done = a.call("update", Target(cluster=1), Change(add_labels=frozenset({"cat"})))
        assert b.call("count", CATS) == done.updated > 0
        assert b.call("label_counts") == {"cat": done.updated}
        a.call("name_cluster", 1, "cats")
        assert b.call("cluster_names") == {1: "cats"}
        hits = b.call("search", blob_vectors(3, seed=4), 5, 1 << 16)
        assert b.call("count", Filter.checked(all_of=["cat"], clusters=[1])) == done.updated
        assert hits[1].shape == (3, 5)
    finally:
        a.close()
        b.close()
        lock.close()
