"""The step every pipeline starts with: sources in, images or vectors and a skipped list out."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from lookalike.common.errors import InvalidArgument, TrainingError
from lookalike.common.sources import Source, read_sources

if TYPE_CHECKING:
    from lookalike.encoder.checkpoint import Checkpoint

Skipped = tuple[str, str]  # (the row's query as written, why it was skipped)


class Images(NamedTuple):
    """The readable images of a folder or manifest, and what was skipped."""

    sources: list[Source]  # one per image, in order
    images: np.ndarray  # (n, size, size, 3) uint8
    skipped: list[Skipped]
    rows: np.ndarray  # (n,) each image's place in the sources read


def read_images(spec: str | Path | None, size: int, *, progress: bool = False,
                require: bool = False, sources: list[Source] | None = None,
                workers: int | None = None) -> Images:
    """Decodes every image of spec (a folder or manifest) at size x size.

    Args:
        spec: a folder, or a .txt/.csv/.jsonl manifest of paths or URLs (None: sources).
        size: the model's input size.
        progress: show a progress bar.
        require: raise TrainingError when no image is readable.
        sources: spec's sources, when the caller has already read them.
        workers: decoder processes (None: one per core).
    """
    from lookalike.encoder.data import load_images

    if sources is None:
        if spec is None:
            raise ValueError("read_images needs a spec or its sources")
        sources = read_sources(spec)
    images, kept, failed = load_images([s.location for s in sources], size, progress=progress,
                                       workers=workers)
    if require and not kept:
        raise TrainingError(f"no readable images in {spec}")
    return Images([sources[i] for i in kept], images,
                  [(sources[i].query, message) for i, message in failed],
                  np.asarray(kept, np.int64))


class Vectors(NamedTuple):
    """The embeddings of the readable images of a folder or manifest, and what was skipped."""

    sources: list[Source]  # one per vector, in order
    vectors: np.ndarray  # (n, d) float32
    skipped: list[Skipped]


def read_vectors(model: Checkpoint, spec: str | Path | None = None, *, progress: bool = False,
                 sources: list[Source] | None = None, workers: int | None = None) -> Vectors:
    """Decodes and embeds every image of spec (or of sources) here; pipeline/ray_embed.py
    does it on Ray. Both are backends of pipeline/backends.py.

    Each image is embedded at its row (encoder/embed.py), so its vector is the same bit for
    bit wherever the run is split.
    """
    from lookalike.encoder.embed import Embedder

    read = read_images(spec, model.config.image_size, progress=progress, sources=sources,
                       workers=workers)
    return Vectors(read.sources, Embedder(model)(read.images, rows=read.rows), read.skipped)


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
