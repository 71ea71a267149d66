"""Indexer fixtures: a real (untrained, tiny) model folder and collections made from vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.testbed import blob_vectors, make_collection, save_model


def session_model(factory: pytest.TempPathFactory) -> Path:
    """The session's one tiny model folder, saved on first use, for fixtures in any folder."""
    folder = factory.getbasetemp() / "tiny-model"
    if not (folder / "model.json").exists():
        folder.mkdir(exist_ok=True)
        save_model(folder)
    return folder


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return session_model(tmp_path_factory)


@pytest.fixture
def vectors() -> np.ndarray:
    return blob_vectors()


@pytest.fixture
def collection(tmp_path: Path, vectors: np.ndarray, model_dir: Path):
    c = make_collection(tmp_path / "c", model_dir, vectors)
    yield c
    c.close()
