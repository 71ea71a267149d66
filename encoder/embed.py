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
from lookalike.encoder.device import log_device

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
        log_device()
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

    def __call__(self, images: np.ndarray, *, rows: np.ndarray | None = None) -> np.ndarray:
        """Embeds images in chunks of the largest batch shape, the last one in the smallest
        that holds it.

        rows: each image's row number in a bulk run (a collection, a manifest), distinct.
            The images then go in windows of BATCH_SIZES[-1] consecutive rows, each at its
            row's place in its window (a row not given is a blank), so a vector depends on
            nothing but the image and its row: the same bit for bit however a run is split
            between calls, processes or machines. XLA's programs for other batch shapes, and
            other places in one batch, can differ in the last bit (measured: up to 1.2e-7).
        """
        size = self.image_size
        if images.ndim != 4 or images.shape[1:] != (size, size, 3):
            raise ValueError(f"expected (n, {size}, {size}, 3) images, got {images.shape}")
        if rows is not None:
            return self._by_rows(images, np.asarray(rows, np.int64))
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

    def _by_rows(self, images: np.ndarray, rows: np.ndarray) -> np.ndarray:
        if rows.shape != (len(images),) or len(np.unique(rows)) != len(rows):
            raise ValueError(f"expected {len(images)} distinct rows, got {rows.shape}")
        width = BATCH_SIZES[-1]
        out = np.empty((len(images), self.dim), np.float32)
        order = np.argsort(rows, kind="stable")
        windows = rows[order] // width
        bounds = np.flatnonzero(np.diff(windows)) + 1
        for picked in np.split(order, bounds):
            if not len(picked):
                continue
            places = rows[picked] % width
            batch = np.zeros((width, *images.shape[1:]), np.uint8)
            batch[places] = images[picked]
            out[picked] = np.asarray(self._embed(self._leaves, batch))[places]
        return out
