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


@pytest.fixture(params=["local", "milvus"])
def store(request: pytest.FixtureRequest, tmp_path: Path, built_collection: Path):
    """The label suites' collection (test_store_contract's 300 vectors, 6 clusters), local
    or in the real Milvus server."""
    from lookalike.indexer.manifest import MODEL_DIR
    from lookalike.indexer.opener import open_collection
    from tests.indexer.test_store_contract import write_store

    uri = request.getfixturevalue("milvus_uri") if request.param == "milvus" else None
    folder = write_store(request.param, tmp_path / "c", built_collection / MODEL_DIR, uri)
    with open_collection(folder) as collection:
        yield collection
