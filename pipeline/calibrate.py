"""Calibrating a collection's duplicate threshold at build time, from edited copies.

A sample of the collection's images is edited the ways people copy pictures (common/edits.py:
re-encoded, resized, cropped, rotated, brightened, captioned) and embedded by the build's own
model. The distance of each image to its copies, against the distance of each image to its
nearest other image in the collection, gives the threshold that separates the two
(indexer/calibration.py). A sample of 100 images costs about a thousand embeddings.
"""

from __future__ import annotations

import logging

import faiss
import numpy as np

from lookalike.common.decode import decode_image
from lookalike.common.edits import EDITS, as_png
from lookalike.common.errors import LookalikeError
from lookalike.common.imaging import thumbnail
from lookalike.common.sources import Source
from lookalike.encoder.checkpoint import Checkpoint
from lookalike.encoder.embed import Embedder
from lookalike.indexer.calibration import Calibration, choose

logger = logging.getLogger(__name__)

SAMPLES = 100
SIDE = 256  # images are edited at this size: enough detail for a 64-pixel model input


def calibrate(model: Checkpoint, sources: list[Source], vectors: np.ndarray,
              samples: int = SAMPLES, seed: int = 0) -> Calibration | None:
    """The collection's duplicate thresholds, or None when it has fewer than two images or
    no sampled image can be read (URLs are not fetched again)."""
    if len(sources) < 2:
        return None
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(len(sources), min(samples, len(sources)), replace=False))
    size = model.config.image_size
    picked, batches = [], []
    for i in chosen.tolist():
        batch = _edited(sources[i], size)
        if batch is not None:
            picked.append(i)
            batches.append(batch)
    if not picked:
        return None
    embed = Embedder(model)
    copies = []
    for batch in batches:
        got = embed(batch)
        copies.append(((got[1:] - got[0]) ** 2).sum(1))
    floors = np.array([np.median(c) for c in copies])
    others = _nearest_other(vectors, np.array(picked), floors)
    others = others[np.isfinite(others)]
    if not len(others):
        logger.warning("no duplicate threshold calibrated: every sampled image has copies "
                       "in the collection nearer than its own edited copies")
        return None
    calibration = choose(np.concatenate(copies), others)
    logger.info("duplicate threshold %.4g (strict %.4g, loose %.4g) from %d images",
                *calibration, len(picked))
    return calibration


def _edited(source: Source, size: int) -> np.ndarray | None:
    """(1 + edits, size, size, 3): the image, then each edited copy, as the decoder sees them."""
    if source.is_url:
        return None
    try:
        picture = thumbnail(source.location, SIDE)
        versions = [picture] + [edit(picture) for edit in EDITS.values()]
        return np.stack([decode_image(as_png(v), size) for v in versions])
    except LookalikeError as exc:
        logger.debug("calibration skips %s: %s", source.location, exc)
        return None


def _nearest_other(vectors: np.ndarray, picked: np.ndarray, floors: np.ndarray,
                   k: int = 64) -> np.ndarray:
    """Each picked image's squared distance to its nearest other stored image that is further
    than floors (inf where none of the k nearest is).

    A stored image nearer than half of the picked image's own edited copies is taken for a
    copy already in the collection, not for a distinct picture: in a collection full of
    duplicates the plain nearest other is a copy, and the threshold came out at 2 (every
    image one group; skimage photos with 11 edited copies each).
    """
    vectors = np.ascontiguousarray(vectors, np.float32)
    distances, labels = faiss.knn(vectors[picked], vectors, min(k, len(vectors)))
    usable = (labels != picked[:, None]) & (labels >= 0) & (distances > floors[:, None])
    first = np.where(usable.any(1), usable.argmax(1), -1)
    return np.where(first >= 0, distances[np.arange(len(picked)), first], np.inf)
