"""Saving and loading a trained model: config JSON plus msgpack weights, never pickle."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import nnx, serialization

from lookalike.common.atomic import atomic_write_bytes
from lookalike.common.errors import CollectionError, CollectionMismatch, NotFound
from lookalike.encoder.model import Autoencoder, ModelConfig, Whiten

logger = logging.getLogger(__name__)

CONFIG_FILE = "model.json"
WEIGHTS_FILE = "weights.msgpack"
SAVED = (nnx.Param, Whiten)  # what a checkpoint holds: trained weights and the whitening


@dataclass
class Checkpoint:
    """A trained autoencoder with its config and what training recorded."""

    model: Autoencoder
    config: ModelConfig
    meta: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = ""


def _weights_bytes(model: Autoencoder) -> bytes:
    pure = nnx.to_pure_dict(nnx.state(model, SAVED))
    return serialization.msgpack_serialize(jax.tree.map(np.asarray, pure))


def fingerprint_of(config: ModelConfig, weights: bytes) -> str:
    digest = hashlib.sha256(config.to_json().encode())
    digest.update(weights)
    return digest.hexdigest()[:16]


def fingerprint(checkpoint: Checkpoint) -> str:
    """Sets and returns checkpoint's fingerprint, the one save records, without saving.

    A collection's manifest names it before the model is saved into the collection.
    """
    checkpoint.fingerprint = fingerprint_of(checkpoint.config, _weights_bytes(checkpoint.model))
    return checkpoint.fingerprint


def to_files(checkpoint: Checkpoint) -> dict[str, bytes]:
    """The checkpoint's files as bytes, by name, as save writes them; sets its fingerprint.

    What a process that cannot read the model's folder (a Ray worker) is sent instead.
    """
    weights = _weights_bytes(checkpoint.model)
    checkpoint.fingerprint = fingerprint_of(checkpoint.config, weights)
    doc = {
        "config": json.loads(checkpoint.config.to_json()),
        "meta": checkpoint.meta,
        "fingerprint": checkpoint.fingerprint,
    }
    return {WEIGHTS_FILE: weights, CONFIG_FILE: json.dumps(doc, indent=2).encode()}


def save(checkpoint: Checkpoint, folder: str | Path) -> str:
    """Writes the checkpoint into folder atomically and returns its fingerprint."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = to_files(checkpoint)
    # The weights first: a folder whose config is written is complete.
    for name in (WEIGHTS_FILE, CONFIG_FILE):
        atomic_write_bytes(folder / name, files[name])
    return checkpoint.fingerprint


def load(folder: str | Path) -> Checkpoint:
    """Loads a checkpoint, checking the weights against the recorded fingerprint.

    Raises:
        NotFound: the folder has no model.
        CollectionError: a file is corrupt.
        CollectionMismatch: the weights do not fit the recorded architecture.
    """
    folder = Path(folder)
    config_path, weights_path = folder / CONFIG_FILE, folder / WEIGHTS_FILE
    if not config_path.exists() or not weights_path.exists():
        raise NotFound(f"no model in {folder} (expected {CONFIG_FILE} and {WEIGHTS_FILE})")
    return from_files({CONFIG_FILE: config_path.read_bytes(),
                        WEIGHTS_FILE: weights_path.read_bytes()}, folder)


def from_files(files: Mapping[str, bytes], folder: str | Path = "") -> Checkpoint:
    """The checkpoint whose files (as to_files gives them) are files, checked as load checks
    them; folder names them in messages."""
    config_path, weights_path = Path(folder) / CONFIG_FILE, Path(folder) / WEIGHTS_FILE
    try:
        doc = json.loads(files[CONFIG_FILE])
        config = ModelConfig.from_dict(doc["config"])
    except (ValueError, KeyError, TypeError) as exc:
        raise CollectionError(f"{config_path} is corrupt: {exc}") from None
    weights = files[WEIGHTS_FILE]
    fingerprint = fingerprint_of(config, weights)
    if doc.get("fingerprint") and doc["fingerprint"] != fingerprint:
        raise CollectionError(
            f"{weights_path} does not match the fingerprint in {config_path} "
            "(corrupt or replaced)"
        )
    # Built abstractly: a random initialisation would only be overwritten, and its eager
    # ops cost a fresh process (a Ray actor, a starting server) seconds of compiling.
    model = nnx.eval_shape(lambda: Autoencoder(config, nnx.Rngs(0)))
    if jax.tree.leaves(nnx.state(model, nnx.Not(nnx.Any(*SAVED)))):  # nothing to restore it
        model = Autoencoder(config, nnx.Rngs(0))
    state = nnx.state(model, SAVED)
    try:
        restored = serialization.msgpack_restore(weights)
        _check_shapes(nnx.to_pure_dict(state), restored)
        nnx.replace_by_pure_dict(state, restored)
    except CollectionMismatch:
        raise
    except Exception as exc:  # msgpack raises assorted types on garbage
        raise CollectionError(f"{weights_path} is corrupt: {exc}") from None
    nnx.update(model, state)
    return Checkpoint(model, config, doc.get("meta", {}), fingerprint)


def _check_shapes(expected: Any, got: Any, where: str = "") -> None:
    if isinstance(expected, dict):
        if not isinstance(got, dict) or set(map(str, expected)) != set(map(str, got)):
            raise CollectionMismatch(
                f"the saved weights do not fit this architecture (at '{where or '/'}')"
            )
        lookup = {str(k): v for k, v in got.items()}
        for key, value in expected.items():
            _check_shapes(value, lookup[str(key)], f"{where}/{key}")
        return
    if np.shape(expected) != np.shape(got):
        raise CollectionMismatch(
            f"weight {where} has shape {np.shape(got)}, the architecture expects "
            f"{np.shape(expected)}"
        )
