from concurrent.futures import ThreadPoolExecutor

import faiss
import numpy as np

from lookalike.indexer.clustering import route
from lookalike.indexer.local.cluster_indexes import ClusterIndexes


def test_single_and_batched_search_agree_with_exact_search_at_full_nprobe():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(600, 16)).astype(np.float32)
    centroids = vectors[rng.choice(600, 6, replace=False)]
    indexes = ClusterIndexes(centroids)
    indexes.add(route(vectors, indexes.quantizer)[:, 0], vectors, np.arange(100, 700))
    queries = rng.normal(size=(5, 16)).astype(np.float32)
    exact = faiss.IndexFlatL2(16)
    exact.add(vectors)
    _, truth = exact.search(queries, 7)
    _, batched, _ = indexes.search(queries, 7, 6)
    singles = np.vstack([indexes.search(q[None], 7, 6)[1] for q in queries])
    np.testing.assert_array_equal(batched, truth + 100)
    np.testing.assert_array_equal(singles, truth + 100)


def exact_top(vectors: np.ndarray, rowids: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    exact = faiss.IndexFlatL2(vectors.shape[1])
    exact.add(vectors)
    return rowids[exact.search(query, k)[1][0]]


def test_single_query_search_sees_every_add_and_remove():
    # The single-query scan reads each index's codes in place through cached pointers; an
    # add reallocates them and a remove compacts them, so a stale pointer would show here.
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(300, 8)).astype(np.float32)
    rowids = np.arange(1, 301)
    indexes = ClusterIndexes(vectors[:3])
    indexes.add(route(vectors[:100], indexes.quantizer)[:, 0], vectors[:100], rowids[:100])
    query = vectors[250:251] + 0.01
    for upto in (100, 300):
        if upto == 300:
            indexes.add(route(vectors[100:], indexes.quantizer)[:, 0], vectors[100:], rowids[100:])
        got = indexes.search(query, 5, 3)[1][0]
        np.testing.assert_array_equal(got, exact_top(vectors[:upto], rowids[:upto], query, 5))
    assert 251 in got
    keep = np.ones(300, bool)
    keep[rng.choice(300, 120, replace=False)] = False
    indexes.remove(route(vectors[~keep], indexes.quantizer)[:, 0], rowids[~keep])
    got = indexes.search(query, 5, 3)[1][0]
    np.testing.assert_array_equal(got, exact_top(vectors[keep], rowids[keep], query, 5))


def test_single_queries_from_many_threads_get_their_own_answers():
    rng = np.random.default_rng(2)
    vectors = rng.normal(size=(2000, 16)).astype(np.float32)
    indexes = ClusterIndexes(vectors[:20])
    indexes.add(route(vectors, indexes.quantizer)[:, 0], vectors, np.arange(2000))
    queries = rng.normal(size=(64, 16)).astype(np.float32)
    serial = [indexes.search(q[None], 10, 5)[1] for q in queries]
    with ThreadPoolExecutor(8) as pool:
        for _ in range(5):
            threaded = list(pool.map(lambda q: indexes.search(q[None], 10, 5)[1], queries))
            np.testing.assert_array_equal(np.vstack(threaded), np.vstack(serial))


def test_fewer_stored_vectors_than_k_pad_with_minus_one_and_infinity():
    vectors = np.eye(4, dtype=np.float32)
    indexes = ClusterIndexes(vectors[:2])
    indexes.add(route(vectors, indexes.quantizer)[:, 0], vectors, np.arange(10, 14))
    distances, rowids, _ = indexes.search(vectors[:1], 6, 2)
    assert sorted(rowids[0, :4]) == [10, 11, 12, 13] and rowids[0, 0] == 10
    assert list(rowids[0, 4:]) == [-1, -1] and np.isinf(distances[0, 4:]).all()
