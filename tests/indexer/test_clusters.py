import threading

import faiss
import numpy as np

from lookalike.indexer.clusters import ClusterIndexes, one_openmp_thread


def test_single_query_scan_is_single_threaded_and_restores_the_setting():
    seen = {}

    def worker():
        faiss.omp_set_num_threads(2)
        with one_openmp_thread():
            seen["inside"] = faiss.omp_get_max_threads()
            other = threading.Thread(target=lambda: seen.setdefault(
                "other", faiss.omp_get_max_threads()))
            other.start()
            other.join()
        seen["after"] = faiss.omp_get_max_threads()

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen["inside"] == 1
    assert seen["after"] == 2
    assert seen["other"] == faiss.omp_get_max_threads()  # other threads keep their own


def test_single_and_batched_search_agree_with_exact_search_at_full_nprobe():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(600, 16)).astype(np.float32)
    centroids = vectors[rng.choice(600, 6, replace=False)]
    indexes = ClusterIndexes(centroids)
    indexes.add(indexes.route(vectors)[:, 0], vectors, np.arange(100, 700))
    queries = rng.normal(size=(5, 16)).astype(np.float32)
    exact = faiss.IndexFlatL2(16)
    exact.add(vectors)
    _, truth = exact.search(queries, 7)
    _, batched, _ = indexes.search(queries, 7, 6)
    singles = np.vstack([indexes.search(q[None], 7, 6)[1] for q in queries])
    np.testing.assert_array_equal(batched, truth + 100)
    np.testing.assert_array_equal(singles, truth + 100)
