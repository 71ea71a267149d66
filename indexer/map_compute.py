"""The collection map's 2-D coordinates: openTSNE's FFT-accelerated t-SNE on at most a sample of
the embeddings, every other image placed at the mean of its nearest sampled neighbours."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import faiss
import numpy as np

from lookalike.common import recipe

logger = logging.getLogger(__name__)

EVERY = 25  # t-SNE iterations between two updates of the progress bar
FEW = 5  # up to this many images: no t-SNE (its perplexity needs more), a PCA plane instead


@dataclass(frozen=True)
class MapConfig:
    """How a map is computed; the defaults and their reasons are in common/recipe.py.

    sample: t-SNE sees at most this many images (a uniform random sample); the rest are
        placed (`placement`). 0: every image, however many.
    placement: "knn" puts each image not sampled at the mean of its `neighbours` nearest
        sampled images' coordinates; "transform" is openTSNE's TSNEEmbedding.transform
        (optimises each one against the fitted map: measured slower, benchmarks/map_bench.py).
    threads: threads t-SNE uses; 0: one per usable core. 1 by default: on this 2-core machine
        under load, 2 threads took 3.3x the wall time of 1 for the same 5,000-image t-SNE
        (175 s against 53 s; openTSNE's threads wait on each other every iteration).
    """

    sample: int = recipe.MAP_SAMPLE
    neighbours: int = recipe.MAP_NEIGHBOURS
    perplexity: float = recipe.MAP_PERPLEXITY
    placement: str = "knn"
    seed: int = 0
    threads: int = 1


def compute_map(vectors: np.ndarray, config: MapConfig = MapConfig(),
                progress: bool = False) -> np.ndarray:
    """(n, 2) float32 coordinates of the (n, d) vectors, centred, at t-SNE's own scale
    (openTSNE's). progress: a bar over t-SNE's iterations (count, rate, ETA)."""
    vectors = np.ascontiguousarray(vectors, np.float32)
    n = len(vectors)
    if n <= FEW:
        return _plane(vectors)
    rng = np.random.default_rng(config.seed)
    if config.sample and n > config.sample:
        chosen = np.sort(rng.choice(n, config.sample, replace=False))
    else:
        chosen = np.arange(n)
    embedding = _tsne(vectors[chosen], config, progress)
    xy = np.empty((n, 2), np.float32)
    xy[chosen] = np.asarray(embedding, np.float32)
    rest = np.setdiff1d(np.arange(n), chosen, assume_unique=True)
    if len(rest):
        if config.placement == "transform":
            xy[rest] = np.asarray(embedding.transform(vectors[rest]), np.float32)
        else:
            xy[rest] = place_near(vectors[chosen], xy[chosen], vectors[rest],
                                  config.neighbours)
    return xy - xy.mean(0)


def place_near(known: np.ndarray, known_xy: np.ndarray, new: np.ndarray,
               neighbours: int = recipe.MAP_NEIGHBOURS) -> np.ndarray:
    """(m, 2): each of the (m, d) new vectors at the mean coordinates of its `neighbours`
    nearest (squared L2) among the (n, d) known vectors, whose coordinates are known_xy."""
    index = faiss.IndexFlatL2(known.shape[1])
    index.add(np.ascontiguousarray(known, np.float32))
    _, nearest = index.search(np.ascontiguousarray(new, np.float32), min(neighbours, len(known)))
    return known_xy[nearest].mean(1).astype(np.float32)


def _tsne(vectors: np.ndarray, config: MapConfig, progress: bool = False):  # -> TSNEEmbedding
    from openTSNE import TSNE
    from tqdm import tqdm

    threads = config.threads or len(os.sched_getaffinity(0))
    perplexity = min(config.perplexity, (len(vectors) - 1) / 3)
    # openTSNE's defaults: 250 early-exaggeration iterations, then 500.
    with tqdm(total=750, unit="it", desc=f"map: t-SNE of {len(vectors):,}",
              disable=not progress) as bar:
        tsne = TSNE(perplexity=perplexity, n_jobs=threads, random_state=config.seed,
                    # Barnes-Hut below 10,000 images, FFT from there (its own rule; measured
                    # at 5,000: 20 CPU-s against FFT's 30).
                    negative_gradient_method="auto", neighbors="auto", verbose=False,
                    callbacks=lambda *_: _tick(bar), callbacks_every_iters=EVERY)
        return tsne.fit(vectors)


def _tick(bar) -> bool:
    """Moves the bar on; False, since a callback that answers True stops t-SNE."""
    bar.update(EVERY)
    return False


def _plane(vectors: np.ndarray) -> np.ndarray:
    """Too few images for t-SNE: their first two principal components (zeros for one)."""
    if len(vectors) < 2:
        return np.zeros((len(vectors), 2), np.float32)
    centred = vectors.astype(np.float64) - vectors.mean(0)
    if not centred.any():
        return np.zeros((len(vectors), 2), np.float32)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ axes[:2].T
    if xy.shape[1] < 2:
        xy = np.pad(xy, ((0, 0), (0, 2 - xy.shape[1])))
    return (xy / (np.abs(xy).max() or 1.0)).astype(np.float32)
