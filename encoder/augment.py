"""Random views of a batch, inside jit: resized crop, flip, rotation, colour, blur, noise."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from lookalike.common import recipe


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the training views; the defaults, with reasons, are in common/recipe.py."""

    area: tuple[float, float] = recipe.CROP_AREA  # fraction of the image a crop keeps
    aspect: tuple[float, float] = recipe.CROP_ASPECT
    flip: float = recipe.FLIP  # probability of a horizontal flip
    rotate_deg: float = recipe.ROTATE_DEG
    brightness: float = recipe.BRIGHTNESS
    contrast: float = recipe.CONTRAST
    saturation: float = recipe.SATURATION
    grayscale: float = recipe.GRAYSCALE  # probability of dropping colour altogether
    blur: float = recipe.BLUR  # probability of a 3x3 Gaussian blur of random strength
    noise: float = recipe.NOISE  # std of the Gaussian noise on the encoder's input (denoising)
    jpeg: float = recipe.JPEG  # probability of starting from the JPEG re-compressed copy
    jpeg_quality: int = recipe.JPEG_QUALITY


def jpeg_copies(images: np.ndarray, quality: int = 30) -> np.ndarray:
    """JPEG round-trips every image once, so views can use it without encoding per step."""
    out = np.empty_like(images)
    for i, image in enumerate(images):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, "JPEG", quality=quality)
        out[i] = np.asarray(Image.open(buffer).convert("RGB"))
    return out


def _affine(key: jax.Array, n: int, cfg: AugmentConfig) -> jax.Array:
    """(n, 2, 3) maps from output to input coordinates in [-1, 1]."""
    k = jax.random.split(key, 5)
    area = jax.random.uniform(k[0], (n,), minval=cfg.area[0], maxval=cfg.area[1])
    log_r = jax.random.uniform(
        k[1], (n,), minval=math.log(cfg.aspect[0]), maxval=math.log(cfg.aspect[1])
    )
    sx = jnp.minimum(jnp.sqrt(area * jnp.exp(log_r)), 1.0)
    sy = jnp.minimum(jnp.sqrt(area / jnp.exp(log_r)), 1.0)
    shift = jax.random.uniform(k[2], (n, 2), minval=-1.0, maxval=1.0) * (
        1.0 - jnp.stack([sx, sy], 1)
    )
    flip = jnp.where(jax.random.uniform(k[3], (n,)) < cfg.flip, -1.0, 1.0)
    theta = jnp.deg2rad(cfg.rotate_deg) * jax.random.uniform(k[4], (n,), minval=-1, maxval=1)
    cos, sin = jnp.cos(theta), jnp.sin(theta)
    row_x = jnp.stack([cos * sx * flip, -sin * sy, shift[:, 0]], 1)
    row_y = jnp.stack([sin * sx * flip, cos * sy, shift[:, 1]], 1)
    return jnp.stack([row_x, row_y], 1)


def warp(x: jax.Array, maps: jax.Array) -> jax.Array:
    """Bilinear resampling of (n, h, w, c) through per-image affine maps; edges clamp.

    Any dtype in (uint8 included, so the gather moves a quarter of the bytes), float32
    out on the input's scale. One gather fetches each output pixel's 2x2 neighbourhood.
    """
    n, h, w, c = x.shape
    ys, xs = jnp.meshgrid(jnp.linspace(-1, 1, h), jnp.linspace(-1, 1, w), indexing="ij")
    grid = jnp.stack([xs.ravel(), ys.ravel(), jnp.ones(h * w)], 0)  # (3, hw)
    src = jnp.einsum("nij,jp->nip", maps, grid)  # (n, 2, hw)
    px = jnp.clip((src[:, 0] + 1) * (w - 1) / 2, 0, w - 1)
    py = jnp.clip((src[:, 1] + 1) * (h - 1) / 2, 0, h - 1)
    x0 = jnp.clip(jnp.floor(px), 0, w - 2).astype(jnp.int32)
    y0 = jnp.clip(jnp.floor(py), 0, h - 2).astype(jnp.int32)
    fx, fy = (px - x0)[..., None], (py - y0)[..., None]
    image = jnp.broadcast_to(jnp.arange(n, dtype=jnp.int32)[:, None], y0.shape)
    corner = jnp.stack([image, y0, x0], -1)  # (n, hw, 3): image, top row, left column
    numbers = jax.lax.GatherDimensionNumbers(
        offset_dims=(2, 3, 4), collapsed_slice_dims=(0,), start_index_map=(0, 1, 2)
    )
    patch = jax.lax.gather(x, corner, numbers, slice_sizes=(1, 2, 2, c)).astype(jnp.float32)
    top = patch[:, :, 0, 0] * (1 - fx) + patch[:, :, 0, 1] * fx
    bottom = patch[:, :, 1, 0] * (1 - fx) + patch[:, :, 1, 1] * fx
    return (top * (1 - fy) + bottom * fy).reshape(n, h, w, c)


def _blur(x: jax.Array) -> jax.Array:
    padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    rows = padded[:, :-2] * 0.25 + padded[:, 1:-1] * 0.5 + padded[:, 2:] * 0.25
    return rows[:, :, :-2] * 0.25 + rows[:, :, 1:-1] * 0.5 + rows[:, :, 2:] * 0.25


def photometric(key: jax.Array, x: jax.Array, cfg: AugmentConfig) -> jax.Array:
    """Brightness, contrast, saturation, blur and noise on floats in [0, 1]."""
    n = x.shape[0]
    k = jax.random.split(key, 7)

    def factor(kk: jax.Array, spread: float) -> jax.Array:
        return jax.random.uniform(kk, (n, 1, 1, 1), minval=1 - spread, maxval=1 + spread)

    grey = x.mean(-1, keepdims=True)
    x = grey + factor(k[0], cfg.saturation) * (x - grey)
    if cfg.grayscale:
        x = jnp.where(jax.random.uniform(k[6], (n, 1, 1, 1)) < cfg.grayscale, grey, x)
    mean = x.mean((1, 2, 3), keepdims=True)
    x = mean + factor(k[1], cfg.contrast) * (x - mean)
    x = x * factor(k[2], cfg.brightness)
    strength = jax.random.uniform(k[3], (n, 1, 1, 1)) * (jax.random.uniform(k[4], (n, 1, 1, 1))
                                                          < cfg.blur)
    x = x + strength * (_blur(x) - x)
    # Drawn flat and reshaped: with a trailing axis of 3 the draw took 2.5x longer.
    x = x + cfg.noise * jax.random.normal(k[5], (n, x[0].size)).reshape(x.shape)
    return jnp.clip(x, 0.0, 1.0)


def view(
    key: jax.Array, clean: jax.Array, jpeg: jax.Array, cfg: AugmentConfig, target: bool = True
) -> tuple[jax.Array, jax.Array | None]:
    """One random view of a uint8 batch: (corrupted input, its clean geometric target).

    The clean target is the same crop without colour, blur, noise or JPEG damage,
    so reconstruction doubles as denoising. target=False skips it (None): a view that
    is only encoded needs no reconstruction target.
    """
    k_src, k_geo, k_photo = jax.random.split(key, 3)
    use_jpeg = jax.random.uniform(k_src, (clean.shape[0], 1, 1, 1)) < cfg.jpeg
    source = jnp.where(use_jpeg, jpeg, clean)
    both = jnp.concatenate([clean, source], -1) if target else source
    # The barrier stops XLA fusing the gather into every consumer and redoing it there.
    warped = jax.lax.optimization_barrier(warp(both, _affine(k_geo, clean.shape[0], cfg)))
    warped = warped / 255.0
    damaged = photometric(k_photo, warped[..., -3:], cfg)
    return damaged, warped[..., :3] if target else None
