"""Labels, attributes, filters, browse and cluster names: one suite for both stores.

The same collection as test_store_contract (300 vectors, 6 clusters), local or in the real
Milvus server; every expectation is computed with filters.matches, the reference evaluator.
"""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.common.errors import InvalidArgument
from lookalike.common.filters import Condition, Filter, Range, matches
from lookalike.common.labels import EMPTY, MAX_LABELS, Change, check_payload
from lookalike.indexer.interface import Target
from tests.indexer.test_store_contract import NLIST, _data

CATS = Filter.checked(all_of=["cat"])


def _ids(store) -> list[str]:
    return sorted(i.row.id for i in store.browse(None, 1000).items)


def _every(store) -> dict[str, tuple]:
    """id -> (path, cluster, payload) of every stored image."""
    return {i.row.id: (i.row.path, i.row.cluster, i.payload)
            for i in store.browse(None, 1000).items}


def _matching(store, f: Filter) -> set[str]:
    return {i for i, (path, cluster, p) in _every(store).items()
            if matches(f, p, path, cluster)}


def test_labels_and_attributes_are_stored_filtered_and_counted(store) -> None:
    ids = _ids(store)[:10]
    done = store.update(Target(ids=(*ids, "ghost")),
                        Change.checked(add_labels=["cat"], set_attributes=[("price", 5)]))
    assert done.updated == 10 and done.missing == ["ghost"]
    store.update(Target(ids=tuple(ids[:3])), Change.checked(set_attributes=[("price", 9)]))
    assert store.count(CATS) == 10
    cheap = Filter.checked(all_of=["cat"], conditions=[
        Condition("price", range=Range(high=9, high_exclusive=True))])
    assert store.count(cheap) == 7
    assert store.count(Filter.checked(conditions=[Condition("price", equals="5")])) == 0
    items, missing = store.get([ids[0], "ghost"])
    assert missing == ["ghost"] and items[0].payload.labels == {"cat"}
    assert dict(items[0].payload.attributes) == {"price": 9.0}
    assert store.label_counts() == {"cat": 10}
    store.delete(list(ids[:4]))
    assert store.count(CATS) == 6 and store.label_counts() == {"cat": 6}
    assert store.count() == 296


def test_add_stores_payloads(store) -> None:
    dim = store.describe().embedding_dim
    store.add(np.ones((2, dim), np.float32), ["/a.png", "/b.png"], ["a", "b"],
              [check_payload(["new"]), check_payload((), [("k", "v")])])
    assert store.count(Filter.checked(any_of=["new"])) == 1
    assert store.count(Filter.checked(conditions=[Condition("k", equals="v")])) == 1
    assert store.get(["a"])[0][0].payload.labels == {"new"}


def test_an_update_over_a_limit_changes_nothing(store) -> None:
    ids = _ids(store)[:5]
    store.update(Target(ids=(ids[2],)),
                 Change.checked(add_labels=[f"l{i}" for i in range(MAX_LABELS)]))
    before = {i.row.id: i.payload for i in store.get(ids)[0]}
    with pytest.raises(InvalidArgument, match="65 labels"):
        store.update(Target(ids=tuple(ids)), Change.checked(add_labels=["one more"]))
    assert {i.row.id: i.payload for i in store.get(ids)[0]} == before
    assert store.count(Filter.checked(any_of=["one more"])) == 0


def test_a_whole_cluster_is_labelled_and_names_are_shown(store) -> None:
    sizes = store.cluster_sizes()
    big = int(np.argmax(sizes))
    done = store.update(Target(cluster=big), Change.checked(add_labels=["cat"]))
    assert done.updated == sizes[big] == store.count(CATS)
    assert store.count(Filter.checked(all_of=["cat"], clusters=[big])) == sizes[big]
    with pytest.raises(InvalidArgument, match="cluster 99 is not in this collection"):
        store.update(Target(cluster=99), Change.checked(add_labels=["cat"]))
    assert store.name_cluster(big, " cats ") == ""
    assert store.name_cluster(big, "felines") == "cats"
    assert store.cluster_names() == {big: "felines"}
    item = store.browse(CATS, 1).items[0]
    assert item.cluster_name == "felines"
    vectors, _, _ = _data(store.describe().embedding_dim)
    hits = store.search(vectors[big:big + 1], 3, nprobe=NLIST, filter=CATS)
    assert hits.names.get(big) == "felines"
    assert all(hits.payloads[r].labels == {"cat"} for r in hits.rowids[0])
    assert store.name_cluster(big, "") == "felines" and store.cluster_names() == {}
    with pytest.raises(InvalidArgument):
        store.name_cluster(NLIST, "x")


def test_browse_pages_in_a_stable_order_and_refuses_a_token_of_another_filter(store) -> None:
    store.update(Target(ids=tuple(_ids(store)[::5])), Change.checked(add_labels=["cat"]))
    got, tokens = [], [""]
    while True:
        page = store.browse(CATS, 7, tokens[-1], with_vectors=len(tokens) == 2)
        got += [i.row.id for i in page.items]
        if len(tokens) == 2:
            assert page.items[0].vector.shape == (store.describe().embedding_dim,)
        if not page.next_token:
            break
        tokens.append(page.next_token)
    first_token = tokens[1]
    assert len(got) == len(set(got)) == 60 and set(got) == _matching(store, CATS)
    assert got == [i.row.id for i in store.browse(CATS, 1000).items]
    with pytest.raises(InvalidArgument, match="another collection or another filter"):
        store.browse(Filter.checked(all_of=["dog"]), 7, first_token)
    with pytest.raises(InvalidArgument):
        store.browse(CATS, 7, first_token[:-2] + "AA")
    with pytest.raises(InvalidArgument):
        store.browse(CATS, 0 - 1)


def test_a_filtered_search_answers_the_k_nearest_that_match(store) -> None:
    vectors, _, paths = _data(store.describe().embedding_dim)
    every = _every(store)
    by_path = {p: i for i, (p, _, _) in every.items()}
    rare = [by_path[paths[n]] for n in range(0, 300, 37)]  # 9 images, in most clusters
    store.update(Target(ids=tuple(rare)), Change.checked(add_labels=["rare"]))
    store.update(Target(filter=Filter.checked(path_prefix="/images/1")),
                 Change.checked(add_labels=["ones"]))
    ones = _matching(store, Filter.checked(all_of=["ones"]))
    assert ones == {by_path[p] for p in paths if p.startswith("/images/1")}
    path_of = {i: p for i, (p, _, _) in _every(store).items()}
    index = {p: n for n, p in enumerate(paths)}
    queries = vectors[:12] + 0.05
    for label, k, members in (("rare", 5, rare), ("rare", 20, rare), ("ones", 10, ones)):
        hits = store.search(queries, k, filter=Filter.checked(all_of=[label]))  # default nprobe
        for q, row in zip(queries, hits.rowids, strict=True):
            found = [hits.rows[r].id for r in row if r >= 0]
            assert len(found) == min(k, len(members)) and set(found) <= set(members)
            if label == "rare":
                near = sorted(members, key=lambda i: float(
                    ((vectors[index[path_of[i]]] - q) ** 2).sum()))[:k]
                assert set(found) == set(near)


def test_hostile_text_in_labels_values_and_prefixes_is_data(store) -> None:
    hostile = ['qu"ote', "ap'os", "back\\slash", "ünï ✓", "%_like", "a]b[", ") or (1 == 1",
               'x"] or id != "', "\U0010ffff"]
    ids = _ids(store)[: len(hostile)]
    for id_, text in zip(ids, hostile, strict=True):
        store.update(Target(ids=(id_,)),
                     Change.checked(add_labels=[text], set_attributes=[("t", text)]))
    for id_, text in zip(ids, hostile, strict=True):
        assert [i.row.id for i in store.browse(Filter.checked(any_of=[text])).items] == [id_]
        assert store.count(Filter.checked(conditions=[Condition("t", equals=text)])) == 1
        assert store.count(Filter.checked(none_of=[text])) == 299
        assert store.count(Filter.checked(path_prefix=text)) == 0
    dim = store.describe().embedding_dim
    store.add(np.ones((len(hostile), dim), np.float32), [f"/{t}/x\n" for t in hostile],
              [f"h{n}" for n in range(len(hostile))])
    for n, text in enumerate(hostile):
        got = store.browse(Filter.checked(path_prefix=f"/{text}/")).items
        assert [i.row.id for i in got] == [f"h{n}"]
    assert store.count(Filter.checked(path_prefix="/images/0")) == 100


def test_update_by_filter_and_clearing(store) -> None:
    f = Filter.checked(clusters=[0, 1])
    want = _matching(store, f)
    assert store.update(Target(filter=f), Change.checked(
        add_labels=["a", "b"], set_attributes=[("n", 1.5), ("s", "x")])).updated == len(want)
    done = store.update(Target(filter=Filter.checked(all_of=["a"])),
                        Change.checked(remove_labels=["b"], clear_attributes=["s"]))
    assert done.updated == len(want)
    assert store.label_counts() == {"a": len(want)}
    for item in store.browse(Filter.checked(any_of=["a"]), 1000).items:
        assert item.payload.labels == {"a"} and dict(item.payload.attributes) == {"n": 1.5}
    assert store.count(Filter.checked(conditions=[Condition("s", exists=True)])) == 0
    assert store.count(Filter.checked(conditions=[Condition("n", exists=True)])) == len(want)
    assert store.get(["nope"]) == ([], ["nope"])
    outside = sorted(set(_ids(store)) - want)[0]
    assert store.get([outside])[0][0].payload == EMPTY
