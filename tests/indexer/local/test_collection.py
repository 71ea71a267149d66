"""The per-cluster search, live updates and durable store, on real vectors."""

import sqlite3

import faiss
import numpy as np
import pytest

from benchmarks.testbed import recall_at_k
from lookalike.common.errors import AlreadyExists, InvalidArgument, NotFound
from lookalike.indexer.local.collection import Collection


def test_full_nprobe_equals_exact_search(collection, vectors):
    exact = faiss.IndexFlatL2(16)
    exact.add(vectors)
    d_true, i_true = exact.search(vectors[:50], 10)
    hits = collection.search(vectors[:50], 10, nprobe=collection.nlist)
    # Row numbers start at 1 in SQLite; positions in `vectors` start at 0.
    assert recall_at_k(hits.rowids - 1, i_true) == 1.0
    np.testing.assert_allclose(hits.distances, d_true, rtol=1e-4, atol=1e-3)


def test_ranking_matches_ivfflat_with_the_same_centroids(collection, vectors):
    quantizer = faiss.IndexFlatL2(16)
    quantizer.add(collection.centroids)
    ivf = faiss.IndexIVFFlat(quantizer, 16, collection.nlist)
    ivf.is_trained = True
    ivf.add_with_ids(vectors, np.arange(1, len(vectors) + 1))
    for nprobe in (1, 2, 4):
        ivf.nprobe = nprobe
        d_ivf, i_ivf = ivf.search(vectors[:100], 5)
        hits = collection.search(vectors[:100], 5, nprobe)
        np.testing.assert_allclose(hits.distances, d_ivf, rtol=1e-4, atol=1e-3)
        assert recall_at_k(hits.rowids, i_ivf) > 0.99


def test_query_cluster_is_the_nearest_centroid(collection, vectors):
    hits = collection.search(vectors[:20], 3)
    nearest = ((vectors[:20, None] - collection.centroids[None]) ** 2).sum(-1).argmin(1)
    assert (hits.clusters == nearest).all()


def test_k_larger_than_the_collection_returns_what_exists(collection, vectors):
    hits = collection.search(vectors[:1], 5000, nprobe=collection.nlist)
    assert (hits.rowids >= 0).sum() == len(vectors)
    assert np.isinf(hits.distances[hits.rowids < 0]).all()


def test_search_reads_more_rows_than_one_sqlite_statement_takes(collection, vectors):
    # A batch of 64 queries at k=1000 can name more rows than SQLite's default 32,766
    # parameters; lower the limit so a few hundred rows show the same thing.
    collection.store._db.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 500)
    hits = collection.search(vectors[:40], 100, nprobe=collection.nlist)  # 4,000 row numbers
    rows = hits.rows
    assert set(rows) == {int(r) for r in hits.rowids.ravel() if r >= 0}
    assert len(rows) > 500 and all(rows[r].rowid == r for r in rows)


def test_wrong_dimension_and_bad_k_are_invalid(collection):
    with pytest.raises(InvalidArgument, match="16 values"):
        collection.search(np.zeros((1, 15), np.float32), 3)
    with pytest.raises(InvalidArgument, match="k must be"):
        collection.search(np.zeros((1, 16), np.float32), 0)


def test_add_is_searchable_at_once_and_survives_reopen(collection, tmp_path):
    new = np.full((1, 16), 50.0, np.float32)
    rows = collection.add(new, ["/new.png"], ["custom-id"])
    assert rows[0].id == "custom-id"
    hits = collection.search(new, 1)
    assert hits.rows[int(hits.rowids[0, 0])].id == "custom-id"
    count = len(collection)
    collection.close()
    reopened = Collection.open(tmp_path / "c")
    assert len(reopened) == count
    row, vector = reopened.lookup("custom-id")
    assert row.path == "/new.png" and np.array_equal(vector, new[0])
    reopened.close()


def test_duplicate_id_is_refused_and_nothing_is_stored(collection):
    before = len(collection)
    with pytest.raises(AlreadyExists):
        collection.add(np.zeros((2, 16), np.float32), ["a", "b"], ["x", "1"])
    assert len(collection) == before == collection.store.count()
    with pytest.raises(NotFound):
        collection.lookup("x")


def test_delete_removes_from_results_at_once(collection, vectors):
    target = collection.search(vectors[:1], 1).rows
    victim = next(iter(target.values())).id
    deleted, missing = collection.delete([victim, "no-such-id"])
    assert [r.id for r in deleted] == [victim] and missing == ["no-such-id"]
    hits = collection.search(vectors[:1], 10, nprobe=collection.nlist)
    assert victim not in {r.id for r in hits.rows.values()}
    assert len(collection) == collection.store.count() == len(vectors) - 1


def test_generated_ids_are_unique_and_stable(collection):
    ids = [r.id for r in collection.store.rows()]
    assert len(ids) == len(set(ids))
    added = collection.add(np.ones((3, 16), np.float32), ["p"] * 3, [None] * 3)
    assert len({r.id for r in added} | set(ids)) == len(ids) + 3


def test_search_stays_exact_after_adds_and_deletes(collection, vectors):
    """Adds and deletes change clusters in place (and their cached norms): results at full
    nprobe must still equal exact search over what is stored."""
    rng = np.random.default_rng(5)
    extra = rng.normal(size=(100, 16)).astype(np.float32) * 4
    collection.add(extra, ["/x.png"] * 100, [f"x{i}" for i in range(100)])
    collection.delete([f"x{i}" for i in range(0, 100, 2)] + [str(i) for i in range(1, 200, 3)])
    rowids, _, stored = collection.store.all_vectors(16)
    _, truth = faiss.knn(vectors[:40], stored, 10)
    hits = collection.search(vectors[:40], 10, nprobe=collection.nlist)
    assert recall_at_k(hits.rowids, rowids[truth]) == 1.0
    batch = collection.search(vectors[:1], 10, nprobe=collection.nlist)
    assert np.array_equal(batch.rowids[0], hits.rowids[0])


def test_rows_and_all_vectors_read_what_is_stored(collection, vectors):
    collection.delete(["3", "7"])
    rows = collection.rows()
    rowids, clusters, stored = collection.all_vectors()
    assert [r.rowid for r in rows] == rowids.tolist() and len(rows) == len(vectors) - 2
    assert [r.cluster for r in rows] == clusters.tolist()
    assert {"3", "7"}.isdisjoint(r.id for r in rows)
    row, vector = collection.lookup(rows[5].id)
    assert row == rows[5] and np.array_equal(vector, stored[5])
