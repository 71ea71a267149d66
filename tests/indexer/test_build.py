"""build_collection's encoder stage: the shipped base model, --from-scratch, whitening."""

from __future__ import annotations

import numpy as np

from lookalike.encoder import checkpoint
from lookalike.encoder.base import BASE_DIR, load_base
from lookalike.encoder.data import load_image
from lookalike.encoder.embed import Embedder
from lookalike.encoder.train import TrainConfig
from lookalike.indexer.build import BuildConfig, build_collection
from lookalike.indexer.collection import Collection

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


def test_from_scratch_trains_without_the_base_model(tmp_path, image_folder):
    config = BuildConfig(clusters=2, train_config=ONE_EPOCH, from_scratch=True)
    build_collection(image_folder, tmp_path / "c", config).collection.close()
    with Collection.open(tmp_path / "c", read_only=True) as collection:
        assert "base_model" not in checkpoint.load(collection.model_dir).meta


def test_a_whitened_build_stores_exactly_what_a_query_embeds_to(tmp_path, image_folder):
    # 48 images allow whitening to 8 dimensions (4 images per dimension at least).
    config = BuildConfig(clusters=2, train_config=ONE_EPOCH, whiten_dim=8)
    build_collection(image_folder, tmp_path / "c", config).collection.close()
    with Collection.open(tmp_path / "c", read_only=True) as collection:
        model = checkpoint.load(collection.model_dir)
        row, stored = collection.lookup("5")
        assert model.config.whiten_dim == 8 and collection.dim == 8
        query = Embedder(model)(load_image(row.path)[None])[0]
    np.testing.assert_allclose(stored, query, atol=1e-5)
