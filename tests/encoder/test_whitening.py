"""Whitening: fitted on a collection, folded into the model, saved and loaded with it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from flax import nnx
from hypothesis import given, settings
from hypothesis import strategies as st

from lookalike.encoder import checkpoint
from lookalike.encoder.checkpoint import Checkpoint
from lookalike.encoder.embed import Embedder
from lookalike.encoder.model import Autoencoder, ModelConfig
from lookalike.encoder.whitening import DEFAULT_POWER, apply_whitening, fit_whitening

SMALL = ModelConfig(image_size=32, widths=(16, 32), embed_dim=16, decoder_widths=(16,))


def images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (n, 32, 32, 3), dtype=np.uint8)


def plain() -> Checkpoint:
    return Checkpoint(Autoencoder(SMALL, nnx.Rngs(2)), SMALL, {"train_images": 3})


def test_whitened_embeddings_are_decorrelated_on_the_collection():
    base, x = plain(), images(200)
    whitened = fit_whitening(base, Embedder(base)(x), dim=8, power=0.5)
    assert whitened.config.whiten_dim == 8 and whitened.config.output_dim == 8
    assert whitened.meta["whitening"] == {"dim": 8, "power": 0.5, "fitted_on": 200}
    enc = whitened.model.encoder
    z = Embedder(base)(x)
    projected = (z - np.asarray(enc.whiten_mean[...])) @ np.asarray(enc.whiten_matrix[...])
    # Unit variance and no correlation along the kept directions, before the final L2.
    np.testing.assert_allclose(np.cov(projected, rowvar=False), np.eye(8), atol=0.02)
    out = Embedder(whitened)(x)
    assert out.shape == (200, 8)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


@settings(max_examples=15, deadline=None)
@given(power=st.floats(0.0, 0.5), seed=st.integers(0, 2**16))
def test_partial_whitening_damps_strong_directions_without_reordering_them(power, seed):
    """Power p divides each principal direction by its variance**p: the projected
    variances are the collection's own raised to 1 - 2p, still uncorrelated and in the
    same order, so 0.5 evens them out and the default 0.25 only narrows their range."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(400, 16)) * np.geomspace(3.0, 0.1, 16)  # a steep spectrum
    base = plain()
    whitened = fit_whitening(base, vectors.astype(np.float32), dim=8, power=power)
    enc = whitened.model.encoder
    projected = (vectors - np.asarray(enc.whiten_mean[...])) @ np.asarray(enc.whiten_matrix[...])
    cov = np.cov(projected, rowvar=False)
    variances = np.sort(np.linalg.eigvalsh(np.cov(vectors, rowvar=False)))[::-1][:8]
    # (eps, 1e-4 of the largest variance, is added to each before the power)
    np.testing.assert_allclose(np.diag(cov), variances ** (1 - 2 * power), rtol=1e-2)
    np.testing.assert_allclose(cov - np.diag(np.diag(cov)), 0.0, atol=1e-3 * cov.max())
    assert whitened.meta["whitening"]["power"] == power


def test_default_whitening_is_partial():
    base, x = plain(), images(200)
    whitened = fit_whitening(base, Embedder(base)(x), dim=8)
    assert whitened.meta["whitening"]["power"] == DEFAULT_POWER == 0.25


@pytest.mark.parametrize("power", [-0.1, 0.6, float("nan")])
def test_a_whitening_power_outside_0_to_half_is_refused(power):
    base, x = plain(), images(200)
    with pytest.raises(ValueError, match="whitening power"):
        fit_whitening(base, Embedder(base)(x), dim=8, power=power)


def test_whitening_keeps_the_trained_weights():
    base, x = plain(), images(200)
    whitened = fit_whitening(base, Embedder(base)(x), dim=8)
    np.testing.assert_array_equal(whitened.model.encoder(x[:4] / 255.0),
                                  base.model.encoder(x[:4] / 255.0))


def test_too_few_images_leave_the_model_unwhitened():
    base, x = plain(), images(20)  # under 4 images per dimension
    assert fit_whitening(base, Embedder(base)(x), dim=8) is base


def test_whitening_survives_save_and_load(tmp_path):
    base, x = plain(), images(200)
    whitened = fit_whitening(base, Embedder(base)(x), dim=8)
    checkpoint.save(whitened, tmp_path / "m")
    loaded = checkpoint.load(tmp_path / "m")
    assert loaded.config.whiten_dim == 8
    np.testing.assert_array_equal(Embedder(loaded)(x[:5]), Embedder(whitened)(x[:5]))


def test_models_saved_before_the_pooled_head_still_load_as_flatten(tmp_path):
    old = ModelConfig(image_size=32, widths=(16, 32), embed_dim=16, decoder_widths=(16,),
                      head="flatten")
    model = Checkpoint(Autoencoder(old, nnx.Rngs(0)), old)
    checkpoint.save(model, tmp_path / "m")
    doc = json.loads((tmp_path / "m" / checkpoint.CONFIG_FILE).read_text())
    for key in ("head", "whiten_dim"):  # what an old model.json lacks
        doc["config"].pop(key)
    (tmp_path / "m" / checkpoint.CONFIG_FILE).write_text(json.dumps(doc))
    loaded = checkpoint.load(tmp_path / "m")
    assert loaded.config.head == "flatten" and loaded.config.whiten_dim == 0
    np.testing.assert_array_equal(Embedder(loaded)(images(3)), Embedder(model)(images(3)))


def test_whitening_vectors_in_numpy_gives_what_the_whitened_model_embeds():
    """A build embeds once and whitens the vectors in numpy: they must be what the
    whitened model (float32, on the device, renormalised) embeds the same images to."""
    from lookalike.encoder.pretrained import load_base

    for model, dim in ((plain(), 8), (load_base(), 32)):
        size = model.config.image_size
        x = np.random.default_rng(1).integers(0, 255, (300, size, size, 3), dtype=np.uint8)
        vectors = Embedder(model)(x)
        whitened = fit_whitening(model, vectors, dim=dim)
        assert whitened.config.whiten_dim == dim
        np.testing.assert_allclose(apply_whitening(whitened, vectors), Embedder(whitened)(x),
                                   atol=1e-4)
