"""`lookalike embed` as a function: the embeddings of a folder or manifest, in an .npz file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lookalike.encoder.checkpoint import Checkpoint
from lookalike.encoder.embed import Embedder
from lookalike.pipeline.inputs import Skipped, read_images


@dataclass(frozen=True)
class Embedded:
    path: Path
    images: int
    dim: int
    skipped: list[Skipped]


def embed_to_file(model: Checkpoint, images_spec: str | Path, out: str | Path, *,
                  progress: bool = False) -> Embedded:
    """Writes out as an .npz of vectors (n, d), ids (the manifest's id, else the row as
    written) and the model's fingerprint."""
    read = read_images(images_spec, model.config.image_size, progress=progress)
    vectors = Embedder(model)(read.images)
    ids = np.array([s.id or s.query for s in read.sources], dtype=str)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as f:  # np.savez would append .npz to a name without it
        np.savez(f, vectors=vectors, ids=ids, model=np.array(model.fingerprint))
    return Embedded(out, len(read.sources), vectors.shape[1], read.skipped)
