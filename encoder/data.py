"""The encoder's input pipeline: many image files decoded on every core into one uint8 batch."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from functools import partial
from pathlib import Path

import numpy as np

from lookalike.common.decode import DEFAULT_MAX_PIXELS, decode_image
from lookalike.common.errors import ImageTooLarge, InvalidImage, NotFound
from lookalike.common.pool import default_workers, ordered_map
from lookalike.common.sources import read_image_file

logger = logging.getLogger(__name__)


def load_image(
    path: str | Path, size: int = 64, max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Reads and decodes an image file; NotFound if it does not exist."""
    data = read_image_file(path)
    try:
        return decode_image(data, size, max_pixels)
    except InvalidImage as exc:
        raise InvalidImage(f"{path}: {exc}") from None


def try_load_image(path: str | Path, size: int = 64) -> np.ndarray | str:
    """load_image, or the message a bulk run reports when the file is skipped.

    Every bulk decoder (threads here, Ray tasks in pipeline/ray_embed.py) goes through
    this, so a skipped file reads the same whichever ran it.
    """
    try:
        return load_image(path, size)
    except (InvalidImage, NotFound, ImageTooLarge) as exc:
        return str(exc)


def load_images(
    paths: Sequence[str | Path],
    size: int = 64,
    *,
    workers: int | None = None,
    progress: bool = False,
) -> tuple[np.ndarray, list[int], list[tuple[int, str]]]:
    """Decodes many files in `workers` processes (default: one per core), in order.

    Returns:
        (images, kept, failed): a (n_ok, size, size, 3) uint8 array, the input indices
        that decoded, and (index, message) for each one that did not.

    Raises:
        WorkerFailed: a decoder process died or hit a bug (bad files are skipped, not this).
    """
    images = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    kept: list[int] = []
    failed: list[tuple[int, str]] = []
    results: Iterable[np.ndarray | str] = ordered_map(
        partial(try_load_image, size=size), paths,
        workers=default_workers() if workers is None else workers)
    if progress:
        from tqdm import tqdm

        results = tqdm(results, total=len(paths), desc="decode", unit="img")
    for index, result in enumerate(results):
        if isinstance(result, str):
            failed.append((index, result))
        else:
            images[len(kept)] = result
            kept.append(index)
    for index, message in failed[:5]:
        logger.warning("skipped %s: %s", paths[index], message)
    return images[: len(kept)], kept, failed
