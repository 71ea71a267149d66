"""The Milvus layer against a real Milvus server: addresses, writes, exact in-cluster search."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lookalike.common.errors import AlreadyExists, InvalidArgument, Unavailable
from lookalike.indexer.milvus.address import MilvusAddress
from lookalike.indexer.milvus.store import MilvusVectors, generated_ids

_names = itertools.count()


@pytest.fixture
def vectors_in_milvus(milvus_uri: str):
    address = MilvusAddress.parse(f"milvus://{milvus_uri}/t{next(_names)}")
    store = MilvusVectors(address, dim=8)
    store.create(nlist=4)
    yield store
    store.drop()
    store.close()


def test_an_address_names_host_port_collection_and_consistency() -> None:
    a = MilvusAddress.parse("milvus://db.example:19531/photos")
    assert (a.uri, a.name, a.consistency) == ("http://db.example:19531", "photos", "Strong")
    b = MilvusAddress.parse("milvus+tls://db.example/photos?consistency=bounded")
    assert (b.uri, b.consistency) == ("https://db.example:19530", "Bounded")
    assert MilvusAddress.parse(str(b)) == b


@pytest.mark.parametrize("text", [
    "http://host:19530/x", "milvus://host:19530/", "milvus:///name", "milvus://host/1abc",
    "milvus://host/a-b", "milvus://user:secret@host/abc", "milvus://host/abc?consistency=eh",
    "milvus://host/abc?nlist=3",
])
def test_a_bad_address_is_refused_with_the_form_it_needs(text: str) -> None:
    with pytest.raises(InvalidArgument, match="milvus|Milvus|token|option"):
        MilvusAddress.parse(text)


@given(st.text(max_size=40))
def test_any_text_either_parses_to_a_round_tripping_address_or_is_refused(text: str) -> None:
    try:
        address = MilvusAddress.parse("milvus://host:1/" + text)
    except InvalidArgument:
        return
    assert MilvusAddress.parse(str(address)) == address
    assert address.name.replace("_", "").isalnum()


def test_generated_ids_are_distinct_and_prefixed() -> None:
    ids = generated_ids(1000)
    assert len(set(ids)) == 1000 and all(i.startswith("g") and len(i) == 33 for i in ids)


def test_search_within_clusters_is_exact_and_sees_writes_at_once(vectors_in_milvus) -> None:
    store = vectors_in_milvus
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(200, 8)).astype(np.float32)
    clusters = np.arange(200) % 4
    ids = [f"i{n}" for n in range(200)]
    store.insert(ids, [f"/p/{n}" for n in range(200)], clusters, vectors)
    queries = rng.normal(size=(5, 8)).astype(np.float32)
    probes = np.array([[0, 1], [1, 0], [3, 2], [2, 3], [0, 1]])
    distances, rows = store.search(queries, probes, k=7)
    for q, probe, dist, found in zip(queries, probes, distances, rows, strict=True):
        allowed = np.isin(clusters, probe)
        exact = ((vectors - q) ** 2).sum(1)
        exact[~allowed] = np.inf
        truth = np.argsort(exact)[:7]
        assert [r["id"] for r in found] == [ids[t] for t in truth]
        np.testing.assert_allclose(dist, exact[truth], rtol=1e-4)
        assert all(r["cluster"] in probe and r["path"] == "/p/" + r["id"][1:] for r in found)
    assert store.count() == 200 and [store.count(c) for c in range(4)] == [50] * 4

    store.delete(["i0", "i4"])
    assert store.count() == 198
    assert {r["id"] for r in store.find(["i0", "i1", "i4", "nope"])} == {"i1"}
    _, rows = store.search(vectors[:1], np.array([[0]]), k=1)
    assert rows[0][0]["id"] != "i0"


def test_fewer_rows_than_k_pad_with_infinity(vectors_in_milvus) -> None:
    store = vectors_in_milvus
    store.insert(["a", "b"], ["/a", "/b"], np.array([1, 1]), np.eye(2, 8, dtype=np.float32))
    distances, rows = store.search(np.ones((1, 8), np.float32), np.array([[1]]), k=5)
    assert len(rows[0]) == 2 and np.isinf(distances[0, 2:]).all()


def test_find_returns_vectors_as_stored(vectors_in_milvus) -> None:
    store = vectors_in_milvus
    v = np.arange(8, dtype=np.float32)[None] / 7
    store.insert(["x"], ["/x"], np.array([2]), v)
    (row,) = store.find(["x"], vectors=True)
    np.testing.assert_array_equal(np.asarray(row["vector"], np.float32), v[0])


def test_a_second_collection_of_the_same_name_is_refused(vectors_in_milvus) -> None:
    other = MilvusVectors(vectors_in_milvus.address, dim=8)
    with pytest.raises(AlreadyExists, match="already has a collection"):
        other.create(nlist=4)


def test_an_unreachable_milvus_is_unavailable_not_a_bug() -> None:
    address = MilvusAddress.parse("milvus://127.0.0.1:9/nothing")
    with pytest.raises(Unavailable, match="127.0.0.1:9"):
        MilvusVectors(address, dim=8, timeout=2).exists()
