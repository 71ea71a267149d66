"""Both clients' label, browse, count, get, update and cluster-name calls against a server
that breaks the lookalike.v1 contract (hostile_server.py): each breach is BadAnswer."""

from __future__ import annotations

import pytest

from lookalike.clients import BadAnswer, Filter, Item, Page
from lookalike.proto.v1 import lookalike_pb2 as pb

from .hostile_server import Script, item
from .test_hostile_server import field

NO_VALUE = pb.Item(id="a", attributes=[pb.Attribute(key="k")])
TWICE = pb.Item(id="a", attributes=[pb.Attribute(key="k", value=pb.Value(text="x")),
                                    pb.Attribute(key="k", value=pb.Value(text="y"))])


@pytest.mark.parametrize(("script", "call", "words"), [
    (Script(browse=lambda r: pb.BrowseResponse(items=[NO_VALUE])), "browse",
     "attribute 'k' has no value"),
    (Script(browse=lambda r: pb.BrowseResponse(items=[TWICE])), "browse",
     "attribute 'k' twice"),
    (Script(browse=lambda r: pb.BrowseResponse(items=[pb.Item(path="p")])), "browse",
     "an item without an id"),
    (Script(browse=lambda r: pb.BrowseResponse(items=[item(n) for n in range(5)])),
     "browse", "answered 5 items for a page of 2"),
    (Script(browse=lambda r: field(1, 0, b"\x05")), "browse", "of the wrong type: items"),
    (Script(count=lambda r: field(1, 2, b"many")), "count", "of the wrong type: count"),
    (Script(count=lambda r: pb.CountResponse(count=-1)), "count", "counted -1 images"),
    (Script(get=lambda r: pb.GetResponse(items=[pb.Item(id="stranger")])), "get",
     "ids it was not asked for"),
    (Script(update=lambda r: pb.UpdateResponse(updated=-3)), "update", "updated -3"),
    (Script(update=lambda r: field(1, 2, b"lots")), "update", "of the wrong type: updated"),
    (Script(info=lambda r: pb.InfoResponse(cluster_names=[
        pb.ClusterName(cluster=1, name="a"), pb.ClusterName(cluster=1, name="b")])), "info",
     "names a cluster twice"),
    (Script(search=lambda r: pb.SearchResponse(neighbors=[pb.Neighbor(
        id="n", attributes=[pb.Attribute(key="k")])])), "search", "has no value"),
], ids=["attr-no-value", "attr-twice", "item-no-id", "page-too-long", "items-as-number",
        "count-as-text", "count-negative", "get-stranger", "update-negative",
        "update-as-text", "cluster-named-twice", "neighbor-attr-no-value"])
def test_label_answers_that_break_the_contract_raise_bad_answer(hostile, script, call, words):
    client = hostile(script)
    args = {"browse": ((), {"page_size": 2}), "count": ((), {}), "get": ((["a"],), {}),
            "update": ((), {"ids": ["a"], "add_labels": ["x"]}), "info": ((), {}),
            "search": ((), {"id": "3", "filter": Filter(any_labels=["cat"])})}[call]
    with pytest.raises(BadAnswer) as info:
        client(call, *args[0], **args[1])
    assert words in str(info.value)


def test_a_page_token_answered_back_unchanged_is_bad_answer_not_an_endless_loop(hostile):
    client = hostile(Script(browse=lambda r: pb.BrowseResponse(next_page_token="same")))
    with pytest.raises(BadAnswer, match="browsing would never end"):
        client("browse", page_token="same")


def test_well_behaved_label_answers_are_read_with_their_labels_and_attributes(hostile):
    script = Script()
    client = hostile(script)
    page = client("browse", Filter(all_labels=["cat"]), 10)
    assert isinstance(page, Page) and page.next_page_token == ""
    assert page.items[1] == Item("i1", "/images/1.png", 1, "", ["cat"], {"price": 1.0})
    assert client("count") == 7
    assert client("get", ["x", "y"])[0] == [Item("x", "", 0), Item("y", "", 0)]
    assert client("update", ids=["a", "b"], set_attributes={"n": 1}).updated == 2
    assert client("name_cluster", 2, "cats") == "old"
    assert script.calls == ["Browse", "Count", "Get", "Update", "NameCluster"]


def _groups(client, *args, **kwargs) -> list:
    stream = client("find_duplicates", *args, **kwargs)
    if hasattr(stream, "__aiter__"):
        async def collect():
            return [g async for g in stream]
        return client._run(collect)
    return list(stream)


@pytest.mark.parametrize(("groups", "words"), [
    ([pb.DuplicateGroup(group=1, members=[pb.DuplicateMember(id="a", representative=True)])],
     "has 1 members"),
    ([pb.DuplicateGroup(group=1, members=[pb.DuplicateMember(id="a"),
                                          pb.DuplicateMember(id="b", representative=True)])],
     "representative is not first"),
    ([pb.DuplicateGroup(group=0, members=[pb.DuplicateMember(id="a", representative=True),
                                          pb.DuplicateMember(id="b")])], "numbered 0"),
    ([field(2, 0, b"\x05")], "of the wrong type: members"),
], ids=["one-member", "representative-second", "group-zero", "members-as-number"])
def test_duplicate_groups_that_break_the_contract_raise_bad_answer(hostile, groups, words):
    client = hostile(Script(find_duplicates=lambda r: groups))
    with pytest.raises(BadAnswer, match=words):
        _groups(client, 0.1)


def test_well_behaved_duplicate_groups_are_read_typed(hostile):
    script = Script()
    groups = _groups(hostile(script), preset="strict", nprobe=2)
    assert [len(g.members) for g in groups] == [3, 2] and script.calls == ["FindDuplicates"]
    assert groups[0].representative.id == "g1m0"
    assert groups[0].members[2].distance == pytest.approx(0.02)
