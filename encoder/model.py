"""The convolutional autoencoder: stride-2 convolutions down, resize-then-convolve up."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import jax
import jax.numpy as jnp
from flax import nnx

from lookalike.common import recipe


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of the autoencoder; saved with every checkpoint."""

    # Defaults: the shipped base's architecture, with reasons, in common/recipe.py.
    image_size: int = recipe.IMAGE_SIZE
    channels: int = 3
    # A patchify stem (stem x stem patches -> widths[0]); each further width is a stride-2
    # 3x3 conv.
    stem: int = recipe.STEM
    widths: tuple[int, ...] = recipe.WIDTHS
    embed_dim: int = recipe.EMBED_DIM
    # The decoder only serves training: one upsampling per width, reconstructing at
    # recon_size (half the input by default).
    decoder_widths: tuple[int, ...] = recipe.DECODER_WIDTHS
    normalize: bool = recipe.NORMALIZE  # L2-normalised embeddings
    # "pooled": the bottleneck reads average-pooled features of every stage (the whole map
    # of the first, a 2x2 grid of the others); "flatten": the bottom map flattened (models
    # saved before pooling existed; benchmarks/retrieval_quality.py --head flatten scores it).
    head: str = recipe.HEAD
    # >0: the embedding is the bottleneck PCA-whitened to this many dimensions, with the
    # whitening fitted on the collection at build time (encoder.whitening).
    whiten_dim: int = 0

    def __post_init__(self) -> None:
        if self.bottom < 1 or self.image_size % self.reduction:
            raise ValueError(
                f"image_size {self.image_size} must be a multiple of {self.reduction}"
            )
        if self.head not in ("pooled", "flatten"):
            raise ValueError(f"head must be 'pooled' or 'flatten', not {self.head!r}")
        if not 0 <= self.whiten_dim <= self.embed_dim:
            raise ValueError(f"whiten_dim must be 0 to embed_dim ({self.embed_dim})")
        if not self.decoder_widths or self.recon_size > self.image_size:
            raise ValueError(
                f"{len(self.decoder_widths)} decoder widths reconstruct at {self.recon_size}px; "
                f"give 1 to {len(self.widths)}"
            )

    @property
    def reduction(self) -> int:
        return self.stem * 2 ** (len(self.widths) - 1)

    @property
    def bottom(self) -> int:
        return self.image_size // self.reduction

    @property
    def output_dim(self) -> int:
        """The dimension of the vectors a collection stores."""
        return self.whiten_dim or self.embed_dim

    @property
    def head_inputs(self) -> int:
        if self.head == "flatten":
            return self.bottom * self.bottom * self.widths[-1]
        return self.widths[0] + 4 * sum(self.widths[1:])

    @property
    def recon_size(self) -> int:
        return self.bottom * 2 ** len(self.decoder_widths)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known}
        values.setdefault("head", "flatten")  # saved before the pooled head existed
        return cls(**values)


class Whiten(nnx.Variable):
    """PCA-whitening fitted on a collection's embeddings; not trained by the optimiser."""


def _grid_pool(x: jax.Array) -> jax.Array:
    """(n, h, w, c) -> (n, 4c): the means of the four quadrants."""
    n, h, w, c = x.shape
    return x.reshape(n, 2, h // 2, 2, w // 2, c).mean((2, 4)).reshape(n, 4 * c)


class Encoder(nnx.Module):
    def __init__(self, config: ModelConfig, rngs: nnx.Rngs) -> None:
        self.stem = config.stem
        self.patch = nnx.Linear(config.stem**2 * config.channels, config.widths[0], rngs=rngs)
        self.convs = nnx.List(
            [nnx.Conv(a, b, (3, 3), strides=(2, 2), rngs=rngs)
             for a, b in zip(config.widths, config.widths[1:], strict=False)]
        )
        self.head = config.head
        self.proj = nnx.Linear(config.head_inputs, config.embed_dim, rngs=rngs)
        self.whiten_dim = config.whiten_dim
        if config.whiten_dim:
            self.whiten_mean = Whiten(jnp.zeros(config.embed_dim))
            self.whiten_matrix = Whiten(jnp.eye(config.embed_dim, config.whiten_dim))

    def __call__(self, x: jax.Array) -> jax.Array:
        p, c = self.stem, x.shape[-1]
        # The patch embedding is a p x p, stride-p convolution with the Linear's kernel
        # read as (p, p, c, width): the same function as reshaping into patches, without
        # the transposing copy XLA CPU spent ~10% of a training step on.
        kernel = self.patch.kernel[...].reshape(p, p, c, -1)
        x = jax.lax.conv_general_dilated(
            x, kernel, (p, p), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        x = nnx.relu(x + self.patch.bias[...])
        pooled = [x.mean((1, 2))]
        for conv in self.convs:
            x = nnx.relu(conv(x))
            pooled.append(_grid_pool(x))
        if self.head == "flatten":
            return self.proj(x.reshape(x.shape[0], -1))
        return self.proj(jnp.concatenate(pooled, -1))

    def embedding(self, x: jax.Array) -> jax.Array:
        """The stored vector: the bottleneck, L2-normalised, whitened where fitted."""
        z = self(x)
        z = z / (jnp.linalg.norm(z, axis=1, keepdims=True) + 1e-8)
        if self.whiten_dim:
            z = (z - self.whiten_mean[...]) @ self.whiten_matrix[...]
            z = z / (jnp.linalg.norm(z, axis=1, keepdims=True) + 1e-8)
        return z


def _upsample2(x: jax.Array) -> jax.Array:
    n, h, w, ch = x.shape
    x = jnp.broadcast_to(x[:, :, None, :, None, :], (n, h, 2, w, 2, ch))
    return x.reshape(n, 2 * h, 2 * w, ch)


class Decoder(nnx.Module):
    """Expands the embedding to bottom x bottom, then (upsample, conv) per decoder width."""

    def __init__(self, config: ModelConfig, rngs: nnx.Rngs) -> None:
        self.config = config
        widths = config.decoder_widths
        self.expand = nnx.Linear(
            config.embed_dim, config.bottom * config.bottom * widths[0], rngs=rngs
        )
        outs = (*widths[1:], config.channels)
        self.convs = nnx.List(
            [nnx.Conv(a, b, (3, 3), rngs=rngs) for a, b in zip(widths, outs, strict=True)]
        )

    def __call__(self, z: jax.Array) -> jax.Array:
        c = self.config
        x = nnx.relu(self.expand(z)).reshape(z.shape[0], c.bottom, c.bottom, c.decoder_widths[0])
        for i, conv in enumerate(self.convs):
            # Nearest upsampling then a plain conv: far faster than ConvTranspose on XLA CPU.
            x = conv(_upsample2(x))
            if i < len(self.convs) - 1:
                x = nnx.relu(x)
        return nnx.sigmoid(x)


class Autoencoder(nnx.Module):
    def __init__(self, config: ModelConfig, rngs: nnx.Rngs) -> None:
        self.config = config
        self.encoder = Encoder(config, rngs)
        self.decoder = Decoder(config, rngs)

    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        z = self.encoder(x)
        return z, self.decoder(z)

    def embed(self, x: jax.Array) -> jax.Array:
        return self.encoder(x)
