"""Choosing k, fitting KMeans, routing vectors to centroids, choosing nprobe, and imbalance."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import NamedTuple

import faiss
import numpy as np

from lookalike.common import recipe

logger = logging.getLogger(__name__)



class KChoice(NamedTuple):
    k: int
    candidates: list[int]
    silhouettes: list[float]
    inertias: list[float]


def candidate_ks(n: int) -> list[int]:
    """The k values `auto` tries: about 8 from sqrt(n)/4 to 2·sqrt(n), within [2, 256]
    (common/recipe.py: K_BAND, K_CANDIDATES, K_MAX).

    sqrt(n) is the classic IVF rule of thumb for nlist. Silhouette alone favours very
    small k, which would make routing useless, so it picks within a band around sqrt(n).
    """
    if n < 4:
        return [1]
    root = np.sqrt(n)
    low = int(max(2, root * recipe.K_BAND[0]))
    top = int(max(low, min(recipe.K_MAX, recipe.K_BAND[1] * root, n // 2)))
    ks = np.unique(np.geomspace(low, top, num=recipe.K_CANDIDATES).round().astype(int))
    return [int(k) for k in ks if 2 <= k <= n - 1]


def fit_kmeans(vectors: np.ndarray, k: int, seed: int = 0,
               sample: int = recipe.KMEANS_FIT_SAMPLE) -> tuple[np.ndarray, float]:
    """Fits KMeans (on a sample for large n) and returns (centroids float32 (k, d), inertia).

    Many clusters (k > 32) are for routing, like IVF's coarse quantizer: one random start
    and 25 Lloyd iterations are plenty there. k-means++ seeding alone took ~100 s for
    k=256 on 50,000 x 256 here, against ~3 s for the whole random-start fit.
    Few clusters are for people to look at, so they get 3 starts and up to 100 iterations.
    """
    from sklearn.cluster import KMeans  # deferred: opening a collection should not pay for it

    if not 1 <= k <= len(vectors):
        raise ValueError(f"k must be between 1 and the number of vectors ({len(vectors)}), got {k}")
    rng = np.random.default_rng(seed)
    if len(vectors) > max(sample, k):
        vectors = vectors[np.sort(rng.choice(len(vectors), max(sample, k), replace=False))]
    many = k > recipe.ROUTING_K
    km = KMeans(n_clusters=k, n_init=1 if many else 3, random_state=seed,
                init="random" if many else "k-means++", max_iter=25 if many else 100)
    km.fit(vectors)
    return km.cluster_centers_.astype(np.float32), float(km.inertia_)


def choose_k(vectors: np.ndarray, seed: int = 0, candidates: list[int] | None = None) -> KChoice:
    """Picks k by the best silhouette score, computed on a sample of at most 2,000 points.

    Each candidate is fitted on at most 20,000 vectors; the chosen k is then fitted again
    on the full fitting sample by the caller.
    """
    from sklearn.metrics import silhouette_score

    candidates = candidates or candidate_ks(len(vectors))
    if candidates == [1]:
        return KChoice(1, [1], [0.0], [0.0])
    rng = np.random.default_rng(seed)
    sample = vectors
    if len(vectors) > recipe.SILHOUETTE_SAMPLE:
        sample = vectors[rng.choice(len(vectors), recipe.SILHOUETTE_SAMPLE, replace=False)]
    scores, inertias = [], []
    for k in candidates:
        centroids, inertia = fit_kmeans(vectors, k, seed, recipe.CHOOSE_K_FIT_SAMPLE)
        labels = assign(sample, centroids)
        score = silhouette_score(sample, labels) if len(np.unique(labels)) > 1 else -1.0
        scores.append(float(score))
        inertias.append(inertia)
        logger.info("k=%d silhouette=%.4f inertia=%.1f", k, score, inertia)
    best = int(np.argmax(scores))
    return KChoice(candidates[best], candidates, scores, inertias)


def make_quantizer(centroids: np.ndarray) -> faiss.IndexFlatL2:
    """The exact index over the centroids that route() searches: build it once per clustering."""
    centroids = np.ascontiguousarray(centroids, np.float32)
    quantizer = faiss.IndexFlatL2(centroids.shape[1])
    quantizer.add(centroids)
    return quantizer


def route(vectors: np.ndarray, quantizer: faiss.Index, nprobe: int = 1) -> np.ndarray:
    """The nprobe nearest centroids (those quantizer holds) of each vector, nearest first:
    (n, nprobe) int64."""
    return quantizer.search(np.ascontiguousarray(vectors, np.float32), nprobe)[1]


def assign(vectors: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """The nearest centroid of each vector: (n,) int64."""
    return route(vectors, make_quantizer(centroids))[:, 0]


def choose_nprobe(vectors: np.ndarray, centroids: np.ndarray,
                  target: float = recipe.TARGET_RECALL, k: int = 10,
                  sample: int = recipe.NPROBE_SAMPLE, seed: int = 0) -> int:
    """The smallest nprobe whose recall@k against exact search reaches target on a sample.

    Without building any index: a true neighbour is found at nprobe p exactly when its
    cluster is among the query's p nearest centroids (IVFFlat and our per-cluster scan rank
    the same way), so one ranking of all centroids per query gives recall at every p.
    """
    nlist = len(centroids)
    if nlist == 1:
        return 1
    rng = np.random.default_rng(seed)
    queries = vectors[np.sort(rng.choice(len(vectors), min(sample, len(vectors)), replace=False))]
    # Each query is a stored vector: leave it out of its own truth, as a new image would be.
    k = min(k, len(vectors) - 1)
    if k < 1:
        return 1
    truth = faiss.knn(queries, vectors, k + 1)[1][:, 1:]
    quantizer = make_quantizer(centroids)
    order = route(queries, quantizer, nlist)  # (q, nlist) centroids, nearest first
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(nlist)[None].repeat(len(queries), 0), 1)
    home = route(vectors[truth.ravel()], quantizer)[:, 0].reshape(truth.shape)
    needed = np.take_along_axis(rank, home, 1)  # probes needed to reach each true neighbour
    recall = (needed[:, :, None] < np.arange(1, nlist + 1)).mean(axis=(0, 1))
    # A margin over the sample's estimate, so new queries (not the sample) still reach target.
    reached = recall >= min(1.0, target + recipe.NPROBE_MARGIN) - 1e-9
    return int(np.argmax(reached) + 1) if reached.any() else nlist


def imbalance(sizes: Sequence[int]) -> float:
    """The largest cluster over the mean size: 1.0 is perfectly even."""
    mean = sum(sizes) / len(sizes) if sizes else 0.0
    return float(max(sizes) / mean) if mean else 0.0
