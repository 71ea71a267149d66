"""Labels, attributes, filters and browsing through both clients against a real server:
each call, each bad input refused with a clear error before anything is changed."""

from __future__ import annotations

import pytest

from lookalike.clients import Added, Equals, Exists, Filter, Range
from lookalike.common.errors import InvalidArgument, LookalikeError


@pytest.fixture
def client(label_target, connect):
    """Each client kind against each store (tests/clients/conftest.py's label_target)."""
    return connect(label_target)


def ids_of(client, filter=None):
    return sorted(i.id for i in client("browse", filter, 1000).items)


def test_update_count_get_browse_and_filtered_search(client, image_folder):
    everyone = ids_of(client)
    assert len(everyone) == client("count") == 48
    few = everyone[:5]
    done = client("update", ids=few + ["ghost"], add_labels=["cat"],
                  set_attributes={"price": 3, "source": "shop"})
    assert (done.updated, done.missing) == (5, ["ghost"])
    assert client("count", Filter(all_labels=["cat"])) == 5
    assert client("count", Filter(attributes=[Range("price", min=3, max=3)])) == 5
    assert client("count", Filter(attributes=[Range("price", min=3, min_exclusive=True)])) == 0
    assert client("count", Filter(attributes=[Equals("source", "shop"), Exists("price")])) == 5
    assert client("count", Filter(none_labels=["cat"])) == 43
    items, missing = client("get", [few[0], "nope"], with_vectors=True)
    assert missing == ["nope"] and items[0].labels == ["cat"]
    assert items[0].attributes == {"price": 3.0, "source": "shop"} and items[0].vector
    result = client("search", id=everyone[-1], k=10, filter=Filter(any_labels=["cat"]))
    assert sorted(n.id for n in result.neighbors) == sorted(few)  # k nearest that match
    assert all(n.labels == ["cat"] and n.attributes["source"] == "shop"
               for n in result.neighbors)
    queries = [p.read_bytes() for p in sorted(image_folder.glob("*.png"))[:3]]
    outcomes = client.search_many(queries, k=10, filter=Filter(all_labels=["cat"]))
    assert [sorted(n.id for n in o.neighbors) for o in outcomes] == [sorted(few)] * 3
    assert client("info").label_counts == {"cat": 5}


def test_browse_pages_in_a_stable_order_to_the_end(client):
    seen, token = [], ""
    while True:
        page = client("browse", page_size=7, page_token=token)
        seen += [i.id for i in page.items]
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == len(set(seen)) == 48 == client("count")


def test_label_a_cluster_name_it_and_search_answers_carry_the_name(client):
    info = client("info")
    cluster = max(range(info.clusters), key=lambda c: info.cluster_sizes[c])
    done = client("update", cluster=cluster, add_labels=["dogs"])
    assert done.updated == info.cluster_sizes[cluster]
    assert client("name_cluster", cluster, "dogs") == ""
    assert client("name_cluster", cluster, "hounds") == "dogs"
    assert client("info").cluster_names == {cluster: "hounds"}
    member = client("browse", Filter(clusters=[cluster]), 1).items[0]
    result = client("search", id=member.id, k=3, filter=Filter(all_labels=["dogs"]))
    assert all(n.cluster_name == "hounds" for n in result.neighbors)
    assert client("update", filter=Filter(all_labels=["dogs"]), remove_labels=["dogs"],
                  clear_attributes=["nothing"]).updated == done.updated
    assert client("count", Filter(all_labels=["dogs"])) == 0


def test_add_with_labels_and_attributes_per_image(client, image_folder):
    images = sorted(image_folder.glob("*.png"))[:3]
    added = client("add", [p.read_bytes() for p in images], ids=["n1", "n2", "n3"],
                   labels=[["new", "a"], None, ["new"]],
                   attributes=[{"w": 1.5}, {}, {"w": "heavy"}])
    assert all(isinstance(a, Added) for a in added)
    got = {i.id: i for i in client("get", ["n1", "n2", "n3"])[0]}
    assert (got["n1"].labels, got["n1"].attributes) == (["a", "new"], {"w": 1.5})
    assert (got["n2"].labels, got["n3"].attributes) == ([], {"w": "heavy"})
    assert client("count", Filter(attributes=[Equals("w", 1.5)])) == 1


LONG = "x" * 65
BAD_LABELS = [("", "is empty"), ("  ", "is empty"), (LONG, "has 65 characters"),
              ("a\nb", "control character"), ("a\ud800", "UTF-8")]


@pytest.mark.parametrize(("label", "words"), BAD_LABELS,
                         ids=["empty", "spaces", "too-long", "newline", "lone-surrogate"])
def test_a_bad_label_is_refused_everywhere_and_nothing_changes(client, label, words):
    first = ids_of(client)[0]
    with pytest.raises(InvalidArgument, match=words):
        client("update", ids=[first], add_labels=["fine", label])
    with pytest.raises(InvalidArgument, match=words):
        client("count", Filter(any_labels=[label]))
    with pytest.raises(InvalidArgument, match=words):
        client("search", id=first, filter=Filter(none_labels=[label]))
    [added] = client("add", [b"x"], ids=["z"], labels=[[label]])
    assert isinstance(added, InvalidArgument) and words in str(added)
    assert client("info").label_counts == {} and client("count") == 48


@pytest.mark.parametrize(("call", "kwargs", "words"), [
    ("update", {"set_attributes": {"p": float("nan")}}, "finite"),
    ("update", {"set_attributes": {"bad key": 1}}, "A-Z a-z 0-9"),
    ("update", {"set_attributes": {"p": True}}, "not a boolean"),
    ("update", {"add_labels": [f"l{n}" for n in range(65)]}, "at most 64"),
    ("update", {"add_labels": ["a"], "remove_labels": ["a"]}, "both added and removed"),
    ("update", {}, "changes nothing"),
    ("count", {"filter": Filter(all_labels=["a"], none_labels=["a"])}, "nothing can match"),
    ("count", {"filter": Filter(attributes=[Range("p", min=5, max=1)])}, "range is empty"),
    ("count", {"filter": Filter(attributes=[Range("p", max=float("nan"))])}, "NaN"),
    ("count", {"filter": Filter(clusters=[])}, "at least one cluster"),
    ("count", {"filter": "labels=cat"}, "lookalike.clients.Filter"),
    ("browse", {"page_token": "AAAA" * 10}, "token"),
    ("browse", {"page_size": 0}, "page_size must be 1 to 1000"),
], ids=["nan", "bad-key", "bool", "too-many-labels", "add-and-remove", "no-change",
        "contradiction", "empty-range", "nan-bound", "no-clusters", "text-filter",
        "tampered-token", "page-size"])
def test_bad_input_is_invalid_argument_and_changes_nothing(client, call, kwargs, words):
    if call == "update":
        kwargs = {"ids": ids_of(client)[:2], **kwargs}
    with pytest.raises(InvalidArgument, match=words):
        client(call, **kwargs)
    assert client("info").label_counts == {}


def test_a_page_token_for_another_filter_is_refused(client):
    page = client("browse", page_size=5)
    with pytest.raises(LookalikeError, match="token"):
        client("browse", Filter(path_prefix="/"), 5, page.next_page_token)


def test_update_many_applies_a_batch_at_once_and_splits_only_when_allowed(label_target,
                                                                          connect):
    """Both clients: a batch of per-image edits and a cluster name in one call, an unknown
    id changing nothing, and a batch over the message limit refused unless split=True,
    which checks every part before applying any."""
    import dataclasses

    from lookalike.clients import ImageEdit
    from lookalike.clients.channel import make_config

    target = label_target
    client = connect(target)
    everyone = ids_of(client)
    edits = [ImageEdit(i, labels=["batch", f"n{n % 3}"], set_attributes={"rank": n})
             for n, i in enumerate(everyone)]
    ghost = client("update_many", [*edits[:5], ImageEdit("ghost", add_labels=["x"])])
    assert (ghost.applied, ghost.missing) == (False, ["ghost"])
    assert client("count", Filter(any_labels=["batch"])) == 0
    done = client("update_many", edits, {2: "batched"})
    assert (done.applied, done.changed, done.unchanged, done.names) == (True, 48, 0, 1)
    assert client("count", Filter(all_labels=["batch", "n0"])) == 16
    assert client("info").cluster_names.get(2) == "batched"
    small = connect(target, config=dataclasses.replace(make_config(),
                                                       max_message_bytes=1200))
    long = [ImageEdit(i, add_labels=[f"long-{'x' * 50}-{n}" for n in range(3)])
            for i in everyone]
    with pytest.raises(InvalidArgument, match="split=True"):
        small("update_many", long)
    with_ghost = [*long[:40], ImageEdit("ghost", add_labels=["x"]), *long[40:]]
    refused = small("update_many", with_ghost, split=True)
    assert (refused.applied, refused.missing) == (False, ["ghost"])
    assert client("count", Filter(any_labels=[f"long-{'x' * 50}-0"])) == 0
    split = small("update_many", long, split=True)
    assert (split.applied, split.changed) == (True, 48)
    assert client("count", Filter(any_labels=[f"long-{'x' * 50}-2"])) == 48
    with pytest.raises(InvalidArgument, match="labels .exactly these. or add_labels"):
        client("update_many", [ImageEdit(everyone[0], labels=["a"], add_labels=["b"])])
