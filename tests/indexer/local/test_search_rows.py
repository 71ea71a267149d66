"""Collection.search returns its hits with their rows: they agree, and nothing deleted shows."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import faiss
import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from benchmarks.testbed import DIM, blob_vectors, make_collection
from lookalike.common.errors import InvalidArgument
from lookalike.indexer.checks import drop_missing
from lookalike.indexer.interface import Hits
from tests.conftest import session_model

FAST = settings(max_examples=8, stateful_step_count=10, deadline=None,
                derandomize=bool(os.environ.get("CI")),
                suppress_health_check=[HealthCheck.too_slow])


def check_agreement(hits: Hits, k: int) -> None:
    """Rows name exactly the hits; padding only at the end; nearest first."""
    assert hits.rowids.shape == hits.distances.shape and hits.rowids.shape[1] == k
    found = hits.rowids >= 0
    assert set(hits.rows) == {int(r) for r in hits.rowids[found]}
    assert all(hits.rows[r].rowid == r for r in hits.rows)
    assert (np.sort(~found, axis=1, kind="stable") == ~found).all(), "padding inside the hits"
    assert np.isinf(hits.distances[~found]).all() and np.isfinite(hits.distances[found]).all()
    assert all((np.diff(d[f]) >= 0).all() for d, f in zip(hits.distances, found, strict=True))


def test_hits_and_rows_agree_with_exact_search_at_full_nprobe(collection, vectors):
    hits = collection.search(vectors[:30], 12, nprobe=collection.nlist)
    check_agreement(hits, 12)
    distances, _ = faiss.knn(vectors[:30], vectors, 12)
    np.testing.assert_allclose(hits.distances, distances, rtol=1e-4, atol=1e-4)
    # Row numbers start at 1; ids made up for id-less rows are the row number as text.
    for query, row in enumerate(hits.rowids):
        assert [hits.rows[r].id for r in row] == [str(r) for r in row]
        assert [hits.rows[r].path for r in row] == [f"/img/{r - 1}.png" for r in row]
        own = ((vectors[row - 1] - vectors[query]) ** 2).sum(axis=1)  # each row's own distance
        np.testing.assert_allclose(hits.distances[query], own, rtol=1e-4, atol=1e-4)


def test_k_larger_than_the_collection_gives_every_row_once(collection, vectors):
    hits = collection.search(vectors[:3], len(vectors) + 50, nprobe=collection.nlist)
    check_agreement(hits, len(vectors) + 50)
    assert len(hits.rows) == len(vectors)
    assert ((hits.rowids >= 0).sum(axis=1) == len(vectors)).all()


def test_nprobe_bounds(collection, vectors):
    default = collection.search(vectors[:20], 5)
    assert np.array_equal(collection.search(vectors[:20], 5, 0).rowids, default.rowids)
    assert np.array_equal(collection.search(vectors[:20], 5, collection.default_nprobe).rowids,
                          default.rowids)
    everything = collection.search(vectors[:20], 5, collection.nlist)
    assert np.array_equal(collection.search(vectors[:20], 5, collection.nlist + 7).rowids,
                          everything.rowids)
    with pytest.raises(InvalidArgument, match=r"nprobe must be 0 \(the default\) or more, got -1"):
        collection.search(vectors[:1], 5, -1)
    with pytest.raises(InvalidArgument, match="k must be at least 1, got 0"):
        collection.search(vectors[:1], 0)


def test_a_row_gone_from_sqlite_but_not_yet_from_the_indexes_never_appears(collection, vectors):
    """A delete commits to SQLite first; a search in between must not name that row."""
    before = collection.search(vectors[:5], 8, nprobe=collection.nlist)
    victims = sorted({int(r) for r in before.rowids[:, [0, 3]].ravel()})
    collection.store.delete([before.rows[r].id for r in victims])  # SQLite only
    hits = collection.search(vectors[:5], 8, nprobe=collection.nlist)
    check_agreement(hits, 8)
    assert not set(victims) & set(hits.rows)
    for row in range(5):  # the survivors, in their order, then one new neighbour each
        kept = [r for r in before.rowids[row] if r not in victims]
        assert hits.rowids[row, : len(kept)].tolist() == kept


def test_drop_missing_keeps_order_and_pads_the_end():
    distances = np.array([[1.0, 2.0, 3.0, np.inf], [0.5, 0.75, 1.5, 2.0]], np.float32)
    rowids = np.array([[4, 5, 6, -1], [7, 4, 8, 9]], np.int64)
    rows = {r: None for r in (4, 6, 8, 9)}
    d, r = drop_missing(distances, rowids, rows)
    assert r.tolist() == [[4, 6, -1, -1], [4, 8, 9, -1]]
    assert d.tolist() == [[1.0, 3.0, np.inf, np.inf], [0.75, 1.5, 2.0, np.inf]]
    same = drop_missing(distances, rowids, {r: None for r in (4, 5, 6, 7, 8, 9)})
    assert same[0] is distances and same[1] is rowids


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return session_model(tmp_path_factory)


def test_random_adds_deletes_and_searches_keep_hits_and_rows_in_agreement(tiny_model):
    class Searches(RuleBasedStateMachine):
        """The collection against a dict of id -> (path, vector)."""

        def __init__(self) -> None:
            super().__init__()
            self.tmp = tempfile.mkdtemp(prefix="search-rows-")
            start = blob_vectors(n=40, seed=3)
            self.c = make_collection(Path(self.tmp) / "c", tiny_model, start, k=4, nprobe=1)
            self.model = {str(i + 1): (f"/img/{i}.png", v) for i, v in enumerate(start)}
            self.made = 0

        def teardown(self) -> None:
            self.c.close()
            shutil.rmtree(self.tmp)

        @rule(n=st.integers(1, 5), seed=st.integers(0, 2**16))
        def add(self, n: int, seed: int) -> None:
            vectors = (np.random.default_rng(seed).normal(size=(n, DIM)) * 4).astype(np.float32)
            ids = [f"a{self.made + i}" for i in range(n)]
            self.made += n
            self.c.add(vectors, [f"/new/{i}.png" for i in ids], ids)
            self.model.update({i: (f"/new/{i}.png", v) for i, v in zip(ids, vectors, strict=True)})

        @precondition(lambda self: self.model)
        @rule(data=st.data())
        def delete(self, data: st.DataObject) -> None:
            ids = data.draw(st.lists(st.sampled_from(sorted(self.model)), min_size=1,
                                     max_size=6, unique=True))
            rows, missing = self.c.delete(ids + ["never-there"])
            assert {r.id for r in rows} == set(ids) and missing == ["never-there"]
            for i in ids:
                del self.model[i]

        @rule(k=st.integers(1, 60), nprobe=st.integers(0, 7), n=st.integers(1, 3),
              seed=st.integers(0, 2**16))
        def search(self, k: int, nprobe: int, n: int, seed: int) -> None:
            queries = (np.random.default_rng(seed).normal(size=(n, DIM)) * 4).astype(np.float32)
            hits = self.c.search(queries, k, nprobe)
            check_agreement(hits, k)
            for row in hits.rows.values():
                assert row.id in self.model, f"deleted {row.id!r} came back"
                assert row.path == self.model[row.id][0]
            if nprobe >= self.c.nlist:  # every cluster scanned: exactly what exact search finds
                found = (hits.rowids >= 0).sum(axis=1)
                assert (found == min(k, len(self.model))).all()
                if self.model:
                    stored = np.stack([v for _, v in self.model.values()])
                    exact, _ = faiss.knn(queries, stored, min(k, len(stored)))
                    np.testing.assert_allclose(hits.distances[:, : exact.shape[1]], exact,
                                               rtol=1e-4, atol=1e-3)

        @invariant()
        def counts_agree(self) -> None:
            assert len(self.c) == len(self.model) == sum(self.c.cluster_sizes())

    run_state_machine_as_test(Searches, settings=FAST)
