"""The training views: identity maps are exact, flips mirror, colour stays in range."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from lookalike.encoder.augment import AugmentConfig, jpeg_copies, view, warp
from lookalike.encoder.losses import nt_xent

OFF = AugmentConfig(area=(1.0, 1.0), aspect=(1.0, 1.0), flip=0.0, rotate_deg=0.0,
                    brightness=0.0, contrast=0.0, saturation=0.0, grayscale=0.0, blur=0.0,
                    noise=0.0, jpeg=0.0)


def batch(n: int = 4, size: int = 16) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (n, size, size, 3), dtype=np.uint8)


def test_identity_map_returns_the_image():
    x = jnp.asarray(batch(), jnp.float32) / 255
    eye = jnp.tile(jnp.array([[1.0, 0, 0], [0, 1.0, 0]]), (4, 1, 1))
    assert np.allclose(warp(x, eye), x, atol=1e-5)


def test_mirror_map_flips_left_right():
    x = jnp.asarray(batch(), jnp.float32) / 255
    mirror = jnp.tile(jnp.array([[-1.0, 0, 0], [0, 1.0, 0]]), (4, 1, 1))
    assert np.allclose(warp(x, mirror), x[:, :, ::-1], atol=1e-5)


def test_warping_uint8_equals_warping_floats():
    images = batch()
    maps = jnp.tile(jnp.array([[0.8, -0.3, 0.1], [0.3, 0.8, -0.2]]), (4, 1, 1))
    from_floats = warp(jnp.asarray(images, jnp.float32) / 255, maps)
    assert np.allclose(warp(jnp.asarray(images), maps) / 255, from_floats, atol=1e-6)
    assert not np.allclose(from_floats, images / 255, atol=0.05)  # the map did move pixels


def test_a_view_without_target_is_the_same_view():
    images = jnp.asarray(batch(8))
    jpeg = jnp.asarray(jpeg_copies(batch(8)))
    with_target, target = view(jax.random.key(4), images, jpeg, AugmentConfig())
    alone, none = view(jax.random.key(4), images, jpeg, AugmentConfig(), target=False)
    assert none is None and target.shape == alone.shape
    assert np.allclose(alone, with_target, atol=1e-6)


def test_disabled_augmentation_gives_back_the_input():
    images = jnp.asarray(batch())
    damaged, clean = view(jax.random.key(0), images, images, OFF)
    assert np.allclose(damaged, images / 255, atol=1e-5) and np.allclose(clean, damaged, atol=1e-5)


def test_default_views_differ_stay_in_range_and_are_reproducible():
    images = jnp.asarray(batch(8))
    a, target = view(jax.random.key(1), images, images, AugmentConfig())
    b, _ = view(jax.random.key(2), images, images, AugmentConfig())
    again, _ = view(jax.random.key(1), images, images, AugmentConfig())
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    assert float(jnp.abs(a - b).mean()) > 0.05 and np.array_equal(a, again)
    assert float(jnp.abs(a - target).mean()) > 0  # colour and noise touch the input only


def test_colour_jitter_alone_keeps_geometry():
    images = jnp.asarray(batch(8))
    colour = dataclasses.replace(OFF, brightness=0.3, contrast=0.3, saturation=0.3)
    damaged, clean = view(jax.random.key(3), images, images, colour)
    corr = np.corrcoef(np.asarray(damaged).ravel(), np.asarray(clean).ravel())[0, 1]
    assert 0.8 < corr < 0.9999


def test_grey_views_drop_colour_and_keep_geometry():
    images = jnp.asarray(batch(8))
    grey = dataclasses.replace(OFF, grayscale=1.0)
    damaged, clean = view(jax.random.key(3), images, images, grey)
    assert np.allclose(damaged, np.asarray(clean).mean(-1, keepdims=True), atol=1e-5)
    assert float(jnp.abs(clean - clean.mean(-1, keepdims=True)).mean()) > 0.1  # colour was there


def test_jpeg_copies_are_close_but_not_equal():
    smooth = np.repeat(np.repeat(batch(2, 8), 4, 1), 4, 2)
    copies = jpeg_copies(smooth, 30)
    diff = np.abs(copies.astype(int) - smooth).mean()
    assert copies.shape == smooth.shape and 0 < diff < 40


def test_nt_xent_rewards_matching_views():
    z = jax.random.normal(jax.random.key(0), (8, 16))
    shuffled = z[jnp.array([1, 2, 3, 4, 5, 6, 7, 0])]
    assert float(nt_xent(z, z, 0.2)) < float(nt_xent(z, shuffled, 0.2))
