"""Natural pairs as extra positives: the multi-positive loss, pair batches, training with groups."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lookalike.common.errors import TrainingError
from lookalike.encoder.losses import multi_positive_nt_xent, nt_xent
from lookalike.encoder.model import ModelConfig
from lookalike.encoder.train import TrainConfig, device_groups, pair_batches, train

SMALL = ModelConfig(image_size=32, widths=(16, 32), embed_dim=16, decoder_widths=(16,))


def grouped_views(groups: np.ndarray, spread: float = 0.1, seed: int = 0):
    """Two views per image, each near its group's centre: positives already aligned."""
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    centres = jax.random.normal(k1, (int(groups.max()) + 1, 32))[groups]
    z1 = centres + spread * jax.random.normal(k2, centres.shape)
    z2 = centres + spread * jax.random.normal(k3, centres.shape)
    return z1, z2


def test_equals_nt_xent_when_every_group_has_one_member():
    z1, z2 = (jax.random.normal(k, (12, 16)) for k in jax.random.split(jax.random.key(1)))
    for temperature in (0.1, 0.5):
        ours = multi_positive_nt_xent(z1, z2, jnp.arange(12), temperature)
        assert np.isclose(float(ours), float(nt_xent(z1, z2, temperature)), rtol=1e-5)


def test_lower_when_the_groups_match_the_embeddings_than_when_shuffled():
    groups = np.repeat(np.arange(6), 3)  # 6 groups of 3 images
    z1, z2 = grouped_views(groups)
    right = multi_positive_nt_xent(z1, z2, jnp.asarray(groups), 0.2)
    shuffled = np.random.default_rng(0).permutation(groups)
    wrong = multi_positive_nt_xent(z1, z2, jnp.asarray(shuffled), 0.2)
    assert float(right) < float(wrong) - 0.5


def test_group_members_are_positives_not_negatives():
    # Same embeddings: telling the loss that images 0 and 1 are one thing must lower it
    # (they were each other's hardest negative), unlike plain NT-Xent which cannot know.
    groups = np.repeat(np.arange(4), 2)
    z1, z2 = grouped_views(groups, spread=0.3)
    together = multi_positive_nt_xent(z1, z2, jnp.asarray(groups), 0.1)
    apart = multi_positive_nt_xent(z1, z2, jnp.arange(8), 0.1)
    assert float(together) < float(apart)


def test_pair_batches_start_with_two_different_members_of_one_group():
    groups = np.array([-1] * 20 + [0, 0, 0, 1, 1, 2, 2, 2, 2, 3])  # group 3 has one member
    rng = np.random.default_rng(0)
    batches = pair_batches(len(groups), 8, rng, groups, share=0.5)
    assert batches.shape == (-(-len(groups) // 8), 8)
    for row in batches:
        a, b = row[0:4:2], row[1:4:2]
        assert np.all(a != b) and np.all(groups[a] == groups[b]) and np.all(groups[a] >= 0)
        assert not np.isin(3, groups[row[:4]])
    assert np.all((batches >= 0) & (batches < len(groups)))


def test_pair_batches_without_any_pair_are_plain_epoch_batches():
    batches = pair_batches(10, 4, np.random.default_rng(0), np.full(10, -1), share=0.5)
    assert sorted(batches.ravel()[:10].tolist()) == list(range(10))


def test_device_groups_gives_each_lone_image_its_own_id():
    ids = device_groups(np.array([-1, 3, -1, 3, 0]))
    assert ids[1] == ids[3] == 3 and ids[4] == 0
    assert len({ids[0], ids[2], 0, 3}) == 4


def blobs(n: int = 32, size: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    images = np.full((n, size, size, 3), 255, np.uint8)
    for image in images:
        y, x = rng.integers(0, size - 10, 2)
        image[y : y + 10, x : x + 10] = rng.integers(0, 200, 3)
    return images


def test_training_with_groups_runs_and_differs_from_training_without():
    images = blobs()
    groups = np.repeat(np.arange(8), 4).astype(np.int32)
    config = TrainConfig(epochs=1, batch_size=16, seed=2)
    plain = train(images, SMALL, config)
    paired = train(images, SMALL, config, groups=groups)
    assert np.isfinite(paired.meta["final_loss"])
    assert paired.meta["train_config"]["pair_weight"] == 1.0
    plain_w = jax.tree.leaves(plain.model)
    paired_w = jax.tree.leaves(paired.model)
    assert any(not np.array_equal(a, b) for a, b in zip(plain_w, paired_w, strict=True))


def test_training_refuses_group_ids_of_the_wrong_length():
    with pytest.raises(TrainingError, match="expected 32 group ids"):
        train(blobs(), SMALL, TrainConfig(epochs=1, batch_size=16), groups=np.zeros(5, int))
