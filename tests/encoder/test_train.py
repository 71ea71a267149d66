"""Training: refusals for degenerate input, a one-epoch smoke run, determinism."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from lookalike.common.errors import TrainingError
from lookalike.encoder import checkpoint
from lookalike.encoder.device import log_device
from lookalike.encoder.embed import Embedder
from lookalike.encoder.model import ModelConfig
from lookalike.encoder.train import TrainConfig, check_trainable, train

SMALL = ModelConfig(image_size=32, widths=(16, 32), embed_dim=16, decoder_widths=(16,))
FAST = TrainConfig(epochs=1, batch_size=16)


def blobs(n: int = 40, size: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    images = np.zeros((n, size, size, 3), np.uint8)
    for image in images:
        y, x = rng.integers(0, size - 8, 2)
        image[y : y + 8, x : x + 8] = rng.integers(50, 255, 3)
    return images


@pytest.mark.parametrize(
    ("images", "words"),
    [
        (np.zeros((0, 32, 32, 3), np.uint8), "at least 2 images, got 0"),
        (np.zeros((1, 32, 32, 3), np.uint8), "at least 2 images, got 1"),
        (np.full((5, 32, 32, 3), 7, np.uint8), "all 5 images are identical"),
        (np.zeros((5, 32, 32), np.uint8), "expected \\(n, h, w, 3\\)"),
        (np.zeros((5, 32, 32, 3), np.float32), "expected uint8"),
    ],
)
def test_check_trainable_refuses_degenerate_input(images, words):
    with pytest.raises(TrainingError, match=words):
        check_trainable(images)


def test_train_refuses_images_of_the_wrong_size():
    with pytest.raises(TrainingError, match="the model expects 32x32"):
        train(blobs(size=64), SMALL, FAST)


@pytest.fixture(scope="module")
def trained():
    return train(blobs(), SMALL, TrainConfig(epochs=1, batch_size=16, seed=3))


def test_one_epoch_smoke_run_records_what_it_did(trained):
    meta = trained.meta
    assert meta["train_images"] == 40 and meta["epochs_run"] == 1
    assert np.isfinite(meta["final_loss"]) and meta["final_recon_loss"] > 0
    assert meta["train_config"]["batch_size"] == 16
    vectors = Embedder(trained)(blobs(3))
    assert vectors.shape == (3, 16) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)


def test_same_seed_same_model_other_seed_other_model(trained, tmp_path, caplog):
    log_device.cache_clear()  # as in a fresh process: the first training says the device
    with caplog.at_level(logging.INFO, logger="lookalike.encoder.device"):
        again = train(blobs(), SMALL, TrainConfig(epochs=1, batch_size=16, seed=3))
        other = train(blobs(), SMALL, TrainConfig(epochs=1, batch_size=16, seed=4))
    said = [r.getMessage() for r in caplog.records if r.name == "lookalike.encoder.device"]
    assert len(said) == 1 and said[0].startswith("jax ") and ": cpu (" in said[0], said
    prints = [checkpoint.save(m, tmp_path / str(i)) for i, m in enumerate((trained, again, other))]
    assert prints[0] == prints[1] != prints[2]
    assert np.array_equal(Embedder(trained)(blobs(4)), Embedder(again)(blobs(4)))


def test_loss_goes_down_over_a_few_epochs():
    meta = train(blobs(), SMALL, TrainConfig(epochs=4, batch_size=16, patience=10)).meta
    assert meta["losses"][-1] < meta["losses"][0]


def test_early_stopping_stops_on_a_plateau():
    # A zero learning rate cannot improve the loss, so patience runs out.
    config = TrainConfig(epochs=8, batch_size=16, learning_rate=0.0, patience=2, min_delta=0.5)
    meta = train(blobs(), SMALL, config).meta
    assert meta["stopped_early"] and meta["epochs_run"] == 3


def test_auto_epochs_give_small_sets_the_same_step_budget():
    auto = TrainConfig()
    assert auto.epochs_for(40) == 9  # 5,000 images in batches of 128: 360 steps
    assert auto.epochs_for(16) == 22  # 2,000 images: 352 steps, not 9 x 16 = 144
    assert TrainConfig(epochs=3).epochs_for(16) == 3  # an explicit count is kept


def test_auto_epochs_are_what_training_runs():
    images = blobs()
    steps_per_epoch = -(-len(images) // 16)
    config = TrainConfig(batch_size=16, min_steps=11 * steps_per_epoch, patience=100)
    assert train(images, SMALL, config).meta["epochs_run"] == 11


def test_fine_tuning_starts_from_the_given_weights(tmp_path):
    base = train(blobs(), SMALL, TrainConfig(epochs=1, batch_size=16, seed=3))
    fingerprint = checkpoint.save(base, tmp_path / "base")
    # A near-zero learning rate: the fine-tuned model must still be the base model, not a
    # fresh initialisation from its own seed.
    tuned = train(blobs(seed=1), None, TrainConfig(epochs=1, batch_size=16, seed=9,
                                                   learning_rate=1e-12), init=base)
    np.testing.assert_allclose(Embedder(tuned)(blobs(4)), Embedder(base)(blobs(4)), atol=1e-5)
    assert tuned.meta["base_model"] == fingerprint


def test_a_whitened_model_is_not_trained_further():
    from lookalike.encoder.whitening import fit_whitening

    base = train(blobs(80), SMALL, FAST)
    whitened = fit_whitening(base, Embedder(base)(blobs(80)), dim=4)
    with pytest.raises(TrainingError, match="whitened"):
        train(blobs(), None, FAST, init=whitened)
