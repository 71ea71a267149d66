"""PCA-whitening of a collection's embeddings, folded into the model so queries get it too.

Measured (BENCHMARKS.md, "Retrieval quality suite"): whitening L2-normalised embeddings
on the collection itself, unsupervised, raised recall on every set of the suite, the way
it does in image retrieval generally: it evens out the few directions that dominate
cosine similarity between images of one kind.

The whitening is partial by default: each principal direction is divided by its variance
to the power 0.25 rather than 0.5, so strong directions are damped but the weak, noisy ones
are not raised to their strength (common/recipe.py gives the figures that chose 0.25 and 96
dimensions).
"""

from __future__ import annotations

import dataclasses
import logging

import jax.numpy as jnp
import numpy as np
from flax import nnx

from lookalike.common import recipe
from lookalike.encoder.checkpoint import Checkpoint
from lookalike.encoder.model import Autoencoder

logger = logging.getLogger(__name__)

# The recipe's values under this module's names, which benchmarks import.
DEFAULT_DIM = recipe.WHITEN_DIM
DEFAULT_POWER = recipe.WHITEN_POWER  # 0.5: full PCA whitening; 0: PCA projection only


def fit_whitening(
    checkpoint: Checkpoint, vectors: np.ndarray, dim: int = DEFAULT_DIM,
    power: float = DEFAULT_POWER, eps: float = 1e-4,
) -> Checkpoint:
    """A copy of checkpoint whose embedding is whitened to dim dimensions on vectors.

    vectors are the checkpoint's own L2-normalised, unwhitened embeddings of the
    collection. The top dim principal directions are kept, each divided by its variance
    to the power `power` (0.5: full whitening, unit variance in every direction). With
    too few vectors for a stable covariance (under 4 per dimension), the checkpoint is
    returned as it is.
    """
    config = checkpoint.config
    if config.whiten_dim:
        raise ValueError("the model is already whitened")
    if not 0.0 <= power <= 0.5:
        raise ValueError(f"whitening power must be in [0, 0.5], got {power}")
    dim = min(dim, config.embed_dim)
    if dim <= 0 or len(vectors) < recipe.MIN_IMAGES_PER_DIM * dim:
        logger.info("not whitening: %d images for %d dimensions", len(vectors), dim)
        return checkpoint
    x = np.asarray(vectors, np.float64)
    mean = x.mean(0)
    values, vecs = np.linalg.eigh(np.cov(x - mean, rowvar=False))
    top = np.argsort(values)[::-1][:dim]
    # eps relative to the largest variance keeps near-empty directions from being blown up
    # into noise.
    matrix = vecs[:, top] / (values[top] + eps * values.max()) ** power
    whitened = dataclasses.replace(config, whiten_dim=dim)
    model = Autoencoder(whitened, nnx.Rngs(0))
    nnx.update(model, nnx.state(checkpoint.model, nnx.Param))
    model.encoder.whiten_mean[...] = jnp.asarray(mean, jnp.float32)
    model.encoder.whiten_matrix[...] = jnp.asarray(matrix, jnp.float32)
    meta = {**checkpoint.meta,
            "whitening": {"dim": dim, "power": power, "fitted_on": len(vectors)}}
    return Checkpoint(model, whitened, meta)


def apply_whitening(checkpoint: Checkpoint, vectors: np.ndarray) -> np.ndarray:
    """What checkpoint embeds images to, from their L2-normalised unwhitened embeddings.

    Encoder.embedding's last steps in float32 numpy: subtract the mean, project, and
    L2-normalise again. So a build embeds its images once, not again through the whitened
    model (the pipeline's tests check the two agree).
    """
    encoder = checkpoint.model.encoder
    mean = np.asarray(encoder.whiten_mean[...], np.float32)
    matrix = np.asarray(encoder.whiten_matrix[...], np.float32)
    z = (np.asarray(vectors, np.float32) - mean) @ matrix
    return z / (np.linalg.norm(z, axis=1, keepdims=True) + np.float32(1e-8))
