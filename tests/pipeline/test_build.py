"""pipeline.build_collection's encoder stage: the shipped base model, --from-scratch, whitening."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from flax import nnx

from lookalike.common.errors import TrainingError
from lookalike.encoder import checkpoint
from lookalike.encoder.data import load_image
from lookalike.encoder.embed import Embedder
from lookalike.encoder.pretrained import BASE_DIR, load_base
from lookalike.encoder.train import TrainConfig
from lookalike.indexer.local.collection import Collection
from lookalike.indexer.map_file import read_map
from lookalike.pipeline.build import BuildConfig, build_collection

ONE_EPOCH = TrainConfig(epochs=1, batch_size=16)


def test_the_base_model_ships_with_the_package_and_is_small():
    base = load_base()
    assert base is not None, f"no base model in {BASE_DIR}"
    assert base.meta["pretraining"]["corpus"]["total"] > 10_000
    size = sum(f.stat().st_size for f in BASE_DIR.iterdir())
    assert size < 20 * 2**20


def test_a_build_fine_tunes_the_base_model_and_records_it(built_collection):
    with Collection.open(built_collection, read_only=True) as collection:
        model = checkpoint.load(collection.model_dir)
    assert model.meta["base_model"] == load_base().fingerprint


def test_epochs_zero_keeps_the_base_weights_and_whitens_them(tmp_path, image_folder):
    config = BuildConfig(clusters=2, train_config=TrainConfig(epochs=0), whiten_dim=8)
    build_collection(image_folder, tmp_path / "c", config)
    base = load_base()
    with Collection.open(tmp_path / "c", read_only=True) as collection:
        model = checkpoint.load(collection.model_dir)
        row, stored = collection.lookup("5")
    assert model.meta["base_model"] == base.fingerprint
    assert model.meta.get("train_images") == base.meta.get("train_images")  # not 48: untrained
    # The base's own weights, only the whitening added.
    for ours, its in zip(jax.tree.leaves(nnx.state(model.model, nnx.Param)),
                         jax.tree.leaves(nnx.state(base.model, nnx.Param)), strict=True):
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(its))
    np.testing.assert_allclose(stored, Embedder(model)(load_image(row.path)[None])[0], atol=1e-5)


def test_from_scratch_with_no_epochs_is_refused(tmp_path, image_folder):
    config = BuildConfig(clusters=2, train_config=TrainConfig(epochs=0), from_scratch=True)
    with pytest.raises(TrainingError, match="at least one epoch"):
        build_collection(image_folder, tmp_path / "c", config)
    assert not (tmp_path / "c").exists()


def test_from_scratch_trains_without_the_base_model(tmp_path, image_folder):
    config = BuildConfig(clusters=2, train_config=ONE_EPOCH, from_scratch=True)
    build_collection(image_folder, tmp_path / "c", config)
    with Collection.open(tmp_path / "c", read_only=True) as collection:
        assert "base_model" not in checkpoint.load(collection.model_dir).meta


def test_a_whitened_build_stores_exactly_what_a_query_embeds_to(tmp_path, image_folder):
    # 48 images allow whitening to 8 dimensions (4 images per dimension at least).
    config = BuildConfig(clusters=2, train_config=ONE_EPOCH, whiten_dim=8)
    build_collection(image_folder, tmp_path / "c", config)
    with Collection.open(tmp_path / "c", read_only=True) as collection:
        model = checkpoint.load(collection.model_dir)
        row, stored = collection.lookup("5")
        assert model.config.whiten_dim == 8 and collection.dim == 8
        query = Embedder(model)(load_image(row.path)[None])[0]
    np.testing.assert_allclose(stored, query, atol=1e-5)


def test_a_build_returns_facts_and_holds_nothing_open(tmp_path, image_folder, model_dir):
    model = checkpoint.load(model_dir)
    built = build_collection(image_folder, tmp_path / "c", BuildConfig(clusters=2), model=model)
    assert (built.folder, built.images, built.skipped, built.clusters) == (
        tmp_path / "c", 48, [], 2)
    assert set(built.seconds) == {"decode", "embed", "cluster", "calibrate", "index", "map"}
    with Collection.open(built.folder) as collection:  # writable: the build left no lock
        assert len(collection) == 48
        assert sorted(read_map(built.folder).ids) == sorted(r.id for r in collection.rows())
        assert collection.manifest.model_fingerprint == built.model_fingerprint
        assert checkpoint.load(collection.model_dir).fingerprint == built.model_fingerprint
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]  # no work folder left
