"""Labels, filters, Browse, Count, Get, Update and NameCluster through a real server, with
the raw generated stubs."""

from __future__ import annotations

import shutil
import sqlite3

import grpc
import pytest

from lookalike.indexer.manifest import DATABASE_FILE
from lookalike.proto.v1 import lookalike_pb2 as pb
from lookalike.proto.v1 import lookalike_pb2_grpc as pb_grpc
from tests.server.conftest import encode, photo, running_server


@pytest.fixture(scope="module")
def served(built_collection):
    with running_server(built_collection) as (_, target):
        channel = grpc.insecure_channel(target)
        yield pb_grpc.LookalikeStub(channel)
        channel.close()


def refused(call, request, *words: str) -> str:
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
    for word in words:
        assert word in info.value.details()
    return info.value.details()


def test_the_labelling_round_trip(served):
    stub = served
    added = list(stub.Add(iter([
        pb.AddRequest(tag="a", image=encode(photo(seed=41), "PNG"), path="/new/a.png",
                      id="new-a", labels=["cat", " black "], attributes=[
                          pb.Attribute(key="price", value=pb.Value(number=12.5)),
                          pb.Attribute(key="source", value=pb.Value(text="shop"))]),
        pb.AddRequest(tag="b", image=encode(photo(seed=42), "PNG"), path="/new/b.png",
                      id="new-b", labels=["dog"]),
    ]), timeout=60))
    assert [a.id for a in added] == ["new-a", "new-b"] and not added[0].HasField("error")
    cats = pb.Filter(any_of=["cat"])
    assert stub.Count(pb.CountRequest(filter=cats), timeout=30).count == 1
    got = stub.Get(pb.GetRequest(ids=["new-a", "nope"], with_vectors=True), timeout=30)
    assert got.missing == ["nope"]
    item = got.items[0]
    assert list(item.labels) == ["black", "cat"]
    assert [(a.key, a.value.WhichOneof("kind")) for a in item.attributes] == [
        ("price", "number"), ("source", "text")]
    assert len(item.vector.values) > 0

    # A filtered search answers the nearest that match, with labels and cluster names.
    stub.NameCluster(pb.NameClusterRequest(cluster=added[0].cluster, name="felines"),
                     timeout=30)
    answer = stub.Search(pb.SearchRequest(id="new-b", k=5, filter=cats), timeout=30)
    assert [n.id for n in answer.neighbors] == ["new-a"]
    assert answer.neighbors[0].cluster_name == "felines"
    assert list(answer.neighbors[0].labels) == ["black", "cat"]
    rows = list(stub.SearchStream(iter([pb.SearchStreamRequest(
        tag="s", request=pb.SearchRequest(id="new-a", k=3, filter=pb.Filter(
            conditions=[pb.Condition(key="price", range=pb.Range(min=10))]))),
    ]), timeout=30))
    assert [n.id for n in rows[0].response.neighbors] == []  # itself is left out

    # Label a whole cluster, then page through it.
    info = stub.Info(pb.InfoRequest(), timeout=30)
    big = max(range(info.clusters), key=lambda c: info.cluster_sizes[c])
    done = stub.Update(pb.UpdateRequest(cluster=big, add_labels=["reviewed"]), timeout=30)
    assert done.updated == info.cluster_sizes[big]
    seen, token = [], ""
    while True:
        page = stub.Browse(pb.BrowseRequest(filter=pb.Filter(all_of=["reviewed"]), page_size=3,
                                            page_token=token), timeout=30)
        seen += [i.id for i in page.items]
        assert all(i.cluster == big for i in page.items)
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == len(set(seen)) == done.updated
    info = stub.Info(pb.InfoRequest(), timeout=30)
    counts = {c.label: c.count for c in info.label_counts}
    assert counts["reviewed"] == done.updated and counts["cat"] == 1
    assert {n.name for n in info.cluster_names} == {"felines"}
    by_filter = stub.Update(pb.UpdateRequest(filter=pb.Filter(any_of=["dog"]),
                                             remove_labels=["dog"],
                                             clear_attributes=["price"]), timeout=30)
    assert by_filter.updated == 1
    missing = stub.Update(pb.UpdateRequest(ids=pb.IdList(ids=["new-a", "ghost"]),
                                           set_attributes=[pb.Attribute(
                                               key="seen", value=pb.Value(number=1))]),
                          timeout=30)
    assert (missing.updated, list(missing.missing)) == (1, ["ghost"])


def test_bad_input_is_invalid_argument_naming_the_field(served):
    stub = served
    refused(stub.Search, pb.SearchRequest(id="x", k=3, filter=pb.Filter(
        all_of=["a"], none_of=["a"])), "all_of and none_of")
    refused(stub.Count, pb.CountRequest(filter=pb.Filter(conditions=[pb.Condition(key="k")])),
            "exactly one test")
    refused(stub.Count, pb.CountRequest(filter=pb.Filter(conditions=[pb.Condition(
        key="k", range=pb.Range(min=3, max=1))])), "range is empty")
    refused(stub.Count, pb.CountRequest(filter=pb.Filter(conditions=[pb.Condition(
        key="k", equals=pb.Value(number=float("nan")))])), "finite")
    refused(stub.Update, pb.UpdateRequest(cluster=0, add_labels=["a" * 65]), "add_labels[0]")
    refused(stub.Update, pb.UpdateRequest(cluster=0, add_labels=["x\ny"]), "control")
    refused(stub.Update, pb.UpdateRequest(add_labels=["a"]), "no target")
    refused(stub.Update, pb.UpdateRequest(cluster=0), "changes nothing")
    refused(stub.Update, pb.UpdateRequest(cluster=0, set_attributes=[pb.Attribute(
        key="p", value=pb.Value(number=float("inf")))]), "set_attributes[0]", "finite")
    refused(stub.Update, pb.UpdateRequest(cluster=0, set_attributes=[pb.Attribute(
        key="p")]), "has no value")
    refused(stub.NameCluster, pb.NameClusterRequest(cluster=0, name="n" * 65), "cluster name")
    refused(stub.NameCluster, pb.NameClusterRequest(cluster=999, name="x"), "cluster 999")
    refused(stub.Browse, pb.BrowseRequest(page_size=5000), "page_size")
    refused(stub.Browse, pb.BrowseRequest(page_token="forged"), "page_token")
    refused(stub.Get, pb.GetRequest(), "no ids")
    first = stub.Browse(pb.BrowseRequest(page_size=1), timeout=30)
    refused(stub.Browse, pb.BrowseRequest(page_size=1, page_token=first.next_page_token,
                                          filter=pb.Filter(any_of=["cat"])), "another filter")
    bad = list(stub.Add(iter([pb.AddRequest(tag="t", image=encode(photo(seed=5), "PNG"),
                                            labels=[""])]), timeout=60))
    assert bad[0].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "labels[0] is empty" in bad[0].error.message


def test_a_page_token_of_another_collection_is_refused(served, built_collection, tmp_path):
    token = served.Browse(pb.BrowseRequest(page_size=1), timeout=30).next_page_token
    assert token
    # Another collection: a copy with its own secret, as every build makes one.
    other = shutil.copytree(built_collection, tmp_path / "other")
    with sqlite3.connect(other / DATABASE_FILE) as db:
        db.execute("UPDATE secrets SET value=randomblob(32)")
    with running_server(other) as (_, target), grpc.insecure_channel(target) as channel:
        refused(pb_grpc.LookalikeStub(channel).Browse,
                pb.BrowseRequest(page_size=1, page_token=token), "another collection")


def test_update_many_is_all_or_nothing_over_the_wire(served):
    """A batch with one bad edit in the middle, or one unknown id, leaves the collection as
    it was (checked through Get and Info's label counts); a good one applies whole."""
    stub = served

    def state() -> tuple:
        info = stub.Info(pb.InfoRequest(), timeout=30)
        got = stub.Get(pb.GetRequest(ids=ids), timeout=30)
        return ([(i.id, list(i.labels), [(a.key, a.value.text, a.value.number)
                                          for a in i.attributes]) for i in got.items],
                sorted((c.label, c.count) for c in info.label_counts),
                sorted((c.cluster, c.name) for c in info.cluster_names))

    ids = [i.id for i in stub.Browse(pb.BrowseRequest(page_size=8), timeout=30).items]
    edits = [pb.ImageEdit(id=i, add_labels=["batch"], replace_labels=True,
                          set_attributes=[pb.Attribute(key="n", value=pb.Value(number=n))])
             for n, i in enumerate(ids)]
    before = state()
    middle = pb.ImageEdit(id=ids[3], add_labels=["a" * 65])
    refused(stub.UpdateMany, pb.UpdateManyRequest(edits=[*edits[:3], middle, *edits[4:]]),
            "edits[3]", "at most 64")
    refused(stub.UpdateMany, pb.UpdateManyRequest(edits=[*edits, edits[0]]), "edit each image once")
    refused(stub.UpdateMany, pb.UpdateManyRequest(edits=[pb.ImageEdit(
        id=ids[0], remove_labels=["x"], replace_labels=True)]), "remove_labels must be empty")
    refused(stub.UpdateMany, pb.UpdateManyRequest(cluster_names=[pb.ClusterName(
        cluster=999, name="far")]), "cluster 999")
    refused(stub.UpdateMany, pb.UpdateManyRequest(), "changes nothing")
    ghost = stub.UpdateMany(pb.UpdateManyRequest(edits=[*edits[:4], pb.ImageEdit(
        id="ghost", add_labels=["x"]), *edits[4:]]), timeout=30)
    assert (ghost.applied, list(ghost.missing)) == (False, ["ghost"])
    trial = stub.UpdateMany(pb.UpdateManyRequest(edits=edits, dry_run=True), timeout=30)
    assert (trial.applied, trial.changed) == (False, len(ids))
    assert state() == before
    done = stub.UpdateMany(pb.UpdateManyRequest(edits=edits, cluster_names=[
        pb.ClusterName(cluster=0, name="batched")]), timeout=60)
    assert (done.applied, done.changed, done.unchanged, done.names_changed) == (
        True, len(ids), 0, 1)
    after = stub.Get(pb.GetRequest(ids=ids), timeout=30)
    assert all(list(i.labels) == ["batch"] for i in after.items)
    assert stub.Count(pb.CountRequest(filter=pb.Filter(any_of=["batch"])), timeout=30
                      ).count == len(ids)
    assert ("batched" in {c.name for c in stub.Info(pb.InfoRequest(), timeout=30)
                          .cluster_names})
