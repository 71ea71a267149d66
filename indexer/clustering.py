"""Choosing k, fitting KMeans, routing vectors to centroids, and choosing nprobe."""

from __future__ import annotations

import logging
from typing import NamedTuple

import faiss
import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

logger = logging.getLogger(__name__)

SILHOUETTE_SAMPLE = 2_000
KMEANS_FIT_SAMPLE = 50_000


class KChoice(NamedTuple):
    k: int
    candidates: list[int]
    silhouettes: list[float]
    inertias: list[float]


def candidate_ks(n: int) -> list[int]:
    """The k values `auto` tries: about 8 from sqrt(n)/4 to 2·sqrt(n), within [2, 256].

    sqrt(n) is the classic IVF rule of thumb for nlist. Silhouette alone favours very
    small k, which would make routing useless, so it picks within a band around sqrt(n).
    """
    if n < 4:
        return [1]
    root = np.sqrt(n)
    low = int(max(2, root / 4))
    top = int(max(low, min(256, 2 * root, n // 2)))
    ks = np.unique(np.geomspace(low, top, num=8).round().astype(int))
    return [int(k) for k in ks if 2 <= k <= n - 1]


def fit_kmeans(vectors: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, float]:
    """Fits KMeans (on a sample for large n) and returns (centroids float32 (k, d), inertia)."""
    if not 1 <= k <= len(vectors):
        raise ValueError(f"k must be between 1 and the number of vectors ({len(vectors)}), got {k}")
    rng = np.random.default_rng(seed)
    sample = vectors
    if len(vectors) > KMEANS_FIT_SAMPLE:
        sample = vectors[rng.choice(len(vectors), KMEANS_FIT_SAMPLE, replace=False)]
    km = KMeans(n_clusters=k, n_init=1 if k > 32 else 3, random_state=seed, max_iter=100)
    km.fit(sample)
    return km.cluster_centers_.astype(np.float32), float(km.inertia_)


def choose_k(vectors: np.ndarray, seed: int = 0, candidates: list[int] | None = None) -> KChoice:
    """Picks k by the best silhouette score, computed on a sample of at most 2,000 points."""
    candidates = candidates or candidate_ks(len(vectors))
    if candidates == [1]:
        return KChoice(1, [1], [0.0], [0.0])
    rng = np.random.default_rng(seed)
    sample = vectors
    if len(vectors) > SILHOUETTE_SAMPLE:
        sample = vectors[rng.choice(len(vectors), SILHOUETTE_SAMPLE, replace=False)]
    scores, inertias = [], []
    for k in candidates:
        centroids, inertia = fit_kmeans(vectors, k, seed)
        labels = assign(sample, centroids)
        score = silhouette_score(sample, labels) if len(np.unique(labels)) > 1 else -1.0
        scores.append(float(score))
        inertias.append(inertia)
        logger.info("k=%d silhouette=%.4f inertia=%.1f", k, score, inertia)
    best = int(np.argmax(scores))
    return KChoice(candidates[best], candidates, scores, inertias)


def route(vectors: np.ndarray, centroids: np.ndarray, nprobe: int = 1) -> np.ndarray:
    """The nprobe nearest centroids of each vector, nearest first: (n, nprobe) int64."""
    quantizer = faiss.IndexFlatL2(centroids.shape[1])
    quantizer.add(centroids)
    _, probe = quantizer.search(np.ascontiguousarray(vectors, np.float32), nprobe)
    return probe


def assign(vectors: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """The nearest centroid of each vector: (n,) int64."""
    return route(vectors, centroids, 1)[:, 0]


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of the true top-k ids found, per query; -1 entries never match."""
    hits = [len(set(f[f >= 0]) & set(t[t >= 0])) / max(1, (t >= 0).sum())
            for f, t in zip(found, truth)]
    return float(np.mean(hits))
