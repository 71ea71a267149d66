"""The convolutional autoencoder: stride-2 convolutions down, resize-then-convolve up."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import jax
import jax.numpy as jnp
from flax import nnx


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of the autoencoder; saved with every checkpoint."""

    image_size: int = 64
    channels: int = 3
    widths: tuple[int, ...] = (32, 64, 128, 256)
    embed_dim: int = 128

    def __post_init__(self) -> None:
        bottom = self.image_size // 2 ** len(self.widths)
        if bottom < 1 or self.image_size % 2 ** len(self.widths):
            raise ValueError(
                f"image_size {self.image_size} must be a multiple of {2 ** len(self.widths)}"
            )

    @property
    def bottom(self) -> int:
        return self.image_size // 2 ** len(self.widths)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known}
        return cls(**values)


class Encoder(nnx.Module):
    def __init__(self, config: ModelConfig, rngs: nnx.Rngs) -> None:
        chans = (config.channels, *config.widths)
        self.convs = nnx.List(
            [nnx.Conv(a, b, (3, 3), strides=(2, 2), rngs=rngs) for a, b in zip(chans, chans[1:])]
        )
        flat = config.bottom * config.bottom * config.widths[-1]
        self.proj = nnx.Linear(flat, config.embed_dim, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        for conv in self.convs:
            x = nnx.relu(conv(x))
        return self.proj(x.reshape(x.shape[0], -1))


class Decoder(nnx.Module):
    def __init__(self, config: ModelConfig, rngs: nnx.Rngs) -> None:
        self.config = config
        widths = config.widths[::-1]
        self.expand = nnx.Linear(
            config.embed_dim, config.bottom * config.bottom * widths[0], rngs=rngs
        )
        outs = (*widths[1:], config.channels)
        self.convs = nnx.List(
            [nnx.Conv(a, b, (3, 3), rngs=rngs) for a, b in zip(widths, outs)]
        )

    def __call__(self, z: jax.Array) -> jax.Array:
        c = self.config
        x = self.expand(z).reshape(z.shape[0], c.bottom, c.bottom, c.widths[-1])
        for i, conv in enumerate(self.convs):
            # Nearest upsampling then a plain conv: far faster than ConvTranspose on XLA CPU.
            n, h, w, ch = x.shape
            x = jnp.broadcast_to(x[:, :, None, :, None, :], (n, h, 2, w, 2, ch))
            x = conv(x.reshape(n, 2 * h, 2 * w, ch))
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
