"""Cluster sizes in Milvus mode, on a real Milvus server: read without a Milvus call per
cluster, right at once after this view's writes and soon after another view's."""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks.testbed import blob_vectors, milvus_vectors_folder, vector_ids
from lookalike.indexer.milvus import collection as milvus_collection
from lookalike.indexer.milvus import sizes as milvus_sizes
from lookalike.indexer.milvus.recluster import recluster_milvus
from lookalike.indexer.opener import open_collection
from lookalike.indexer.recluster import ReclusterConfig

_names = itertools.count()


class CountedClient:
    """A pymilvus client that counts the requests made through it, by method."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._client, name)
        if not callable(found):
            return found

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return found(*args, **kwargs)

        return counted


def counted(collection) -> CountedClient:
    """Counts every Milvus request collection makes from now on (its views share it)."""
    client = CountedClient(collection.vectors.client)
    collection.vectors.client = client
    return client


def truth(collection) -> list[int]:
    """Images per cluster, from every stored row."""
    clusters = [r.cluster for r in collection.rows()]
    return np.bincount(clusters, minlength=collection.nlist).tolist()


def wait_for(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.05)


@pytest.fixture
def folder(tmp_path: Path, model_dir: Path, milvus_uri: str) -> Callable[[int], Path]:
    def make(k: int, n: int = 600) -> Path:
        return milvus_vectors_folder(tmp_path / f"k{k}", model_dir,
                                     f"milvus://{milvus_uri}/sizes{next(_names)}",
                                     blob_vectors(n=n, centres=8, seed=3), k=k)
    return make


def _one_round(collection, vector: np.ndarray, id_: str) -> tuple[Counter[str], Counter[str]]:
    """The Milvus requests of an Info (sizes and description), and of an add and a delete
    each followed by the image count the group's metrics read after a write."""
    calls = counted(collection)
    collection.cluster_sizes()
    collection.describe()
    info = Counter(calls.calls)
    calls.calls.clear()
    collection.add(vector[None], ["/new.png"], [id_])
    sum(collection.cluster_sizes())
    collection.delete([id_])
    sum(collection.cluster_sizes())
    return info, Counter(calls.calls)


def test_info_add_and_delete_make_the_same_few_milvus_calls_whatever_the_clusters(
        folder, monkeypatch) -> None:
    # No generation re-read nor background step during the rounds: the counts then depend
    # on the calls themselves only, and are compared exactly.
    monkeypatch.setattr(milvus_collection, "REFRESH_S", 3600.0)
    monkeypatch.setattr(milvus_sizes, "RECOUNT_S", 3600.0)
    rounds = {}
    for k in (4, 64):
        with open_collection(folder(k)) as collection:
            first = counted(collection)
            assert sum(collection.cluster_sizes()) == 600  # the first read counts in Milvus
            assert first.calls["query"] == k
            vector = collection.lookup(vector_ids(1)[0])[1]
            rounds[k] = _one_round(collection, vector, f"new-in-{k}")
            assert collection.cluster_sizes() == truth(collection)
    assert rounds[4] == rounds[64]
    info, writes = rounds[4]
    assert sum(info.values()) == 0  # Info answers from memory
    assert writes["query"] == 2  # the add's id check and the delete's find: no count


def test_sizes_follow_writes_here_at_once_and_another_views_after_a_recount(
        folder, monkeypatch) -> None:
    monkeypatch.setattr(milvus_sizes, "RECOUNT_S", 0.2)
    monkeypatch.setattr(milvus_sizes, "FULL_RECOUNT_S", 3600.0)
    where = folder(6)
    with open_collection(where) as mine, open_collection(where) as theirs:
        assert mine.cluster_sizes() == theirs.cluster_sizes() == truth(mine)
        ids = vector_ids(600)
        vectors = np.stack([mine.lookup(i)[1] for i in ids[:5]]) + 0.01
        mine.add(vectors, ["/a.png"] * 5, ["a1", "a2", "a3", "a4", "a5"])
        mine.delete(ids[10:13] + ["not-there"])
        expected = truth(mine)
        assert sum(expected) == 602
        assert mine.cluster_sizes() == expected  # at once, without counting
        wait_for(lambda: theirs.cluster_sizes() == expected)  # after its next recount

        theirs.delete(["a1", "a2"])
        expected = truth(theirs)
        assert theirs.cluster_sizes() == expected
        wait_for(lambda: mine.cluster_sizes() == expected)


def test_a_move_that_keeps_the_total_is_seen_by_the_full_recount(folder, monkeypatch) -> None:
    """Another view adds to one cluster and deletes from another: Milvus's total is
    unchanged, so the cheap check passes and the periodic full recount brings it in."""
    monkeypatch.setattr(milvus_sizes, "RECOUNT_S", 0.2)
    monkeypatch.setattr(milvus_sizes, "FULL_RECOUNT_S", 1.0)
    where = folder(6)
    with open_collection(where) as mine, open_collection(where) as theirs:
        before = mine.cluster_sizes()
        theirs.cluster_sizes()
        rows = theirs.rows()
        gone = next(r for r in rows if r.cluster == 0)
        twin = next(r for r in rows if r.cluster == 1)
        theirs.delete([gone.id])
        theirs.add(theirs.lookup(twin.id)[1][None], ["/moved.png"], ["moved"])
        expected = truth(theirs)
        assert sum(expected) == sum(before) and expected != before
        wait_for(lambda: mine.cluster_sizes() == expected)


def test_a_server_moved_by_a_recluster_starts_from_the_sizes_it_left(
        folder, monkeypatch) -> None:
    monkeypatch.setattr(milvus_collection, "REFRESH_S", 0.0)  # follow the switch at once
    monkeypatch.setattr(milvus_sizes, "RECOUNT_S", 3600.0)
    where = folder(4)
    with open_collection(where) as served, open_collection(where) as admin:
        assert len(served.cluster_sizes()) == 4
        recluster_milvus(admin, ReclusterConfig(clusters=7), grace_s=0)
        calls = counted(served)
        sizes = served.cluster_sizes()
        assert sizes == truth(admin) and len(sizes) == 7
        assert calls.calls["query"] == 1  # the new generation's centroids; no count
        served.add(served.lookup(vector_ids(1)[0])[1][None], ["/later.png"], ["later"])
        assert served.cluster_sizes() == truth(admin)
        with open_collection(where) as fresh:  # a server starting now counts, rather than
            assert fresh.cluster_sizes() == truth(admin)  # take the recluster's old sizes
