"""Indexer fixtures: a real (untrained, tiny) model folder and collections made from vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.testbed import blob_vectors, make_collection


@pytest.fixture
def vectors() -> np.ndarray:
    return blob_vectors()


@pytest.fixture
def collection(tmp_path: Path, vectors: np.ndarray, model_dir: Path):
    c = make_collection(tmp_path / "c", model_dir, vectors)
    yield c
    c.close()
