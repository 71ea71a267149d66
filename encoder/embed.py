"""Batched, jitted embedding with fixed shapes so nothing recompiles per batch."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from lookalike.encoder.checkpoint import Checkpoint

logger = logging.getLogger(__name__)

BATCH_SIZES = (1, 8, 64)


def enable_compilation_cache(folder: str | Path | None = None) -> None:
    """Persists XLA compilations so a restarted process skips the compile."""
    folder = folder or os.environ.get(
        "LOOKALIKE_JAX_CACHE", Path.home() / ".cache" / "lookalike" / "jax"
    )
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


class Embedder:
    """Turns (n, size, size, 3) uint8 images into (n, d) float32 embeddings."""

    def __init__(self, checkpoint: Checkpoint) -> None:
        self.config = checkpoint.config
        self.fingerprint = checkpoint.fingerprint
        self.base_model: str = checkpoint.meta.get("base_model", "")
        graphdef, state = nnx.split(checkpoint.model.encoder)
        normalize = self.config.normalize
        whiten = bool(self.config.whiten_dim)

        # Plain jax.jit over pre-flattened leaves keeps nnx graph handling and pytree
        # flattening of the state off the hot path.
        leaves, treedef = jax.tree.flatten(state)

        @jax.jit
        def _embed(leaves: list[jax.Array], batch: jax.Array) -> jax.Array:
            encoder = nnx.merge(graphdef, jax.tree.unflatten(treedef, leaves))
            x = batch.astype(jnp.float32) / 255.0
            if normalize or whiten:
                return encoder.embedding(x)
            return encoder(x)

        self._leaves = leaves
        self._embed = _embed

    @property
    def dim(self) -> int:
        return self.config.output_dim

    @property
    def image_size(self) -> int:
        return self.config.image_size

    def warmup(self) -> None:
        """Compiles every batch shape once, so the first real call is fast."""
        size = self.image_size
        for b in BATCH_SIZES:
            self(np.zeros((b, size, size, 3), np.uint8))

    def __call__(self, images: np.ndarray) -> np.ndarray:
        size = self.image_size
        if images.ndim != 4 or images.shape[1:] != (size, size, 3):
            raise ValueError(f"expected (n, {size}, {size}, 3) images, got {images.shape}")
        out = np.empty((len(images), self.dim), np.float32)
        start = 0
        while start < len(images):
            chunk = images[start : start + BATCH_SIZES[-1]]
            bucket = next(b for b in BATCH_SIZES if b >= len(chunk))
            padded = chunk
            if len(chunk) < bucket:
                padded = np.concatenate(
                    [chunk, np.zeros((bucket - len(chunk), *chunk.shape[1:]), np.uint8)]
                )
            out[start : start + len(chunk)] = np.asarray(self._embed(self._leaves, padded))[
                : len(chunk)
            ]
            start += len(chunk)
        return out
