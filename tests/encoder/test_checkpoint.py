"""Checkpoints round-trip exactly and refuse a mismatched architecture clearly."""

from __future__ import annotations

import json

import numpy as np
import pytest
from flax import nnx

from lookalike.common.errors import CollectionError, CollectionMismatch, NotFound
from lookalike.encoder import checkpoint
from lookalike.encoder.checkpoint import Checkpoint
from lookalike.encoder.embed import Embedder
from lookalike.encoder.model import Autoencoder, ModelConfig

SMALL = ModelConfig(image_size=32, widths=(16, 32), embed_dim=16, decoder_widths=(16,))


@pytest.fixture
def saved(tmp_path):
    model = Checkpoint(Autoencoder(SMALL, nnx.Rngs(1)), SMALL, {"train_images": 7})
    fingerprint = checkpoint.save(model, tmp_path / "m")
    return model, fingerprint, tmp_path / "m"


def test_round_trip_gives_identical_embeddings_and_meta(saved):
    model, fingerprint, folder = saved
    loaded = checkpoint.load(folder)
    images = np.random.default_rng(0).integers(0, 255, (5, 32, 32, 3), dtype=np.uint8)
    assert loaded.fingerprint == fingerprint and len(fingerprint) == 16
    assert loaded.config == SMALL and loaded.meta == {"train_images": 7}
    assert np.array_equal(Embedder(loaded)(images), Embedder(model)(images))


def test_files_round_trip_in_memory_as_on_disk(saved):
    model, fingerprint, folder = saved
    files = checkpoint.to_files(model)
    assert files == {name: (folder / name).read_bytes() for name in files}
    assert checkpoint.from_files(files).fingerprint == fingerprint
    with pytest.raises(CollectionError, match="does not match the fingerprint"):
        checkpoint.from_files({**files, checkpoint.WEIGHTS_FILE: files[checkpoint.WEIGHTS_FILE][:-1]
                               + b"\x00"})


def test_weights_from_another_architecture_raise_collection_mismatch(saved):
    _, _, folder = saved
    doc = json.loads((folder / checkpoint.CONFIG_FILE).read_text())
    doc["config"]["embed_dim"] = 24
    doc.pop("fingerprint")  # as if written by a tool that records none
    (folder / checkpoint.CONFIG_FILE).write_text(json.dumps(doc))
    with pytest.raises(CollectionMismatch, match="architecture expects"):
        checkpoint.load(folder)


def test_replaced_weights_fail_the_fingerprint(saved, tmp_path):
    _, _, folder = saved
    other = Checkpoint(Autoencoder(SMALL, nnx.Rngs(2)), SMALL)
    checkpoint.save(other, tmp_path / "other")
    (folder / checkpoint.WEIGHTS_FILE).write_bytes(
        (tmp_path / "other" / checkpoint.WEIGHTS_FILE).read_bytes())
    with pytest.raises(CollectionError, match="does not match the fingerprint"):
        checkpoint.load(folder)


def test_missing_model_is_not_found(tmp_path):
    with pytest.raises(NotFound, match="no model"):
        checkpoint.load(tmp_path)


def test_config_json_round_trips():
    assert ModelConfig.from_dict(json.loads(SMALL.to_json())) == SMALL
    with pytest.raises(ValueError, match="multiple of"):
        ModelConfig(image_size=40)
