import numpy as np
import pytest

from benchmarks.testbed import recall_at_k
from lookalike.indexer.clustering import (
    assign,
    candidate_ks,
    choose_k,
    choose_nprobe,
    fit_kmeans,
    imbalance,
)


def blobs(k=5, n=600, d=8, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * 10
    labels = rng.integers(0, k, n)
    return (centres[labels] + rng.normal(size=(n, d))).astype(np.float32), labels


def test_candidate_ks_grow_with_n_and_stay_bounded():
    assert candidate_ks(3) == [1]
    small, large = candidate_ks(100), candidate_ks(1_000_000)
    assert min(small) >= 2 and max(small) <= 50
    assert max(large) == 256 and min(large) > max(small) // 2
    assert all(a < b for a, b in zip(large, large[1:], strict=False))


def test_choose_k_finds_well_separated_blobs():
    vectors, _ = blobs(k=5)
    choice = choose_k(vectors, candidates=[2, 3, 5, 8, 12])
    assert choice.k == 5
    assert len(choice.silhouettes) == len(choice.inertias) == 5


def test_kmeans_clusters_agree_with_blobs():
    vectors, labels = blobs(k=4)
    centroids, _ = fit_kmeans(vectors, 4)
    found = assign(vectors, centroids)
    # Each true blob lands in exactly one cluster.
    assert all(len(np.unique(found[labels == b])) == 1 for b in range(4))


def test_fit_kmeans_refuses_impossible_k():
    vectors, _ = blobs(n=10)
    with pytest.raises(ValueError, match="k must be"):
        fit_kmeans(vectors, 11)


def test_choose_nprobe_reaches_the_target_and_is_minimal():
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(2000, 16)).astype(np.float32)  # no structure: routing is hard
    centroids, _ = fit_kmeans(vectors, 16)
    nprobe = choose_nprobe(vectors, centroids, target=0.95)
    assert 1 < nprobe <= 16
    separated, _ = blobs(k=8, n=2000)
    assert choose_nprobe(separated, fit_kmeans(separated, 8)[0], target=0.95) == 1


def test_recall_at_k():
    truth = np.array([[1, 2, 3], [4, 5, 6]])
    assert recall_at_k(np.array([[3, 2, 1], [4, -1, 9]]), truth) == pytest.approx((1 + 1 / 3) / 2)


def test_imbalance_is_the_largest_cluster_over_the_mean():
    assert imbalance([5, 5, 5, 5]) == 1.0
    assert imbalance([10, 0, 2]) == pytest.approx(2.5)
    assert imbalance([0, 0]) == imbalance([]) == 0.0
