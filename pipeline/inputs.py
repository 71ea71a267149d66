"""The step every pipeline starts with: sources in, decoded images and a skipped list out."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from lookalike.common.errors import InvalidArgument, TrainingError
from lookalike.common.sources import Source, read_sources

Skipped = tuple[str, str]  # (the row's query as written, why it was skipped)


class Images(NamedTuple):
    """The readable images of a folder or manifest, and what was skipped."""

    sources: list[Source]  # one per image, in order
    images: np.ndarray  # (n, size, size, 3) uint8
    skipped: list[Skipped]


def read_images(spec: str | Path, size: int, *, progress: bool = False,
                require: bool = False, sources: list[Source] | None = None) -> Images:
    """Decodes every image of spec (a folder or manifest) at size x size.

    Args:
        spec: a folder, or a .txt/.csv/.jsonl manifest of paths or URLs.
        size: the model's input size.
        progress: show a progress bar.
        require: raise TrainingError when no image is readable.
        sources: spec's sources, when the caller has already read them.
    """
    from lookalike.encoder.data import load_images

    sources = read_sources(spec) if sources is None else sources
    images, kept, failed = load_images([s.location for s in sources], size, progress=progress)
    if require and not kept:
        raise TrainingError(f"no readable images in {spec}")
    return Images([sources[i] for i in kept], images,
                  [(sources[i].query, message) for i, message in failed])


def check_unique_ids(spec: str | Path, ids: list[str | None]) -> None:
    """Refuses bad or repeated ids before decoding and training, not after."""
    from lookalike.indexer.ids import check_ids

    try:
        check_ids(ids)
    except InvalidArgument as exc:
        raise InvalidArgument(f"{spec}: {exc}") from None
    seen: set[str] = set()
    for row_id in ids:
        if row_id in seen:
            raise InvalidArgument(f"{spec}: the id {row_id!r:.80} is given twice")
        if row_id is not None:
            seen.add(row_id)
