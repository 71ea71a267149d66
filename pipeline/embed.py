"""`lookalike embed` as a function: the embeddings of a folder or manifest, in an .npz file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lookalike.common.sources import read_sources
from lookalike.encoder.checkpoint import Checkpoint
from lookalike.pipeline.backends import backend_for
from lookalike.pipeline.inputs import Skipped
from lookalike.pipeline.ray_embed import RayConfig


@dataclass(frozen=True)
class Embedded:
    path: Path
    images: int
    dim: int
    skipped: list[Skipped]


def embed_to_file(model: Checkpoint, images_spec: str | Path, out: str | Path, *,
                  ray: RayConfig | None = None, progress: bool = False,
                  workers: int | None = None) -> Embedded:
    """Writes out as an .npz of vectors (n, d), ids (the manifest's id, else the row as
    written) and the model's fingerprint.

    ray: decode and embed on Ray (pipeline/ray_embed.py); the vectors are the same.
    workers: processes decoding here, without ray (None: one per core).
    """
    got = backend_for(ray, workers).embed(model, read_sources(images_spec), progress=progress)
    vectors = got.vectors
    ids = np.array([s.id or s.query for s in got.sources], dtype=str)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as f:  # np.savez would append .npz to a name without it
        np.savez(f, vectors=vectors, ids=ids, model=np.array(model.fingerprint))
    return Embedded(out, len(got.sources), vectors.shape[1], got.skipped)
