"""Indexer fixtures: a real (untrained, tiny) model folder and collections made from vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lookalike.indexer.clustering import fit_kmeans
from lookalike.indexer.collection import Collection
from lookalike.indexer.manifest import Manifest

DIM = 16


def save_model(folder: Path, dim: int = DIM) -> str:
    """Saves an untrained autoencoder with a dim-sized bottleneck; returns its fingerprint."""
    from flax import nnx

    from lookalike.encoder import checkpoint
    from lookalike.encoder.model import Autoencoder, ModelConfig

    config = ModelConfig(embed_dim=dim)
    return checkpoint.save(checkpoint.Checkpoint(Autoencoder(config, nnx.Rngs(0)), config), folder)


def blob_vectors(n: int = 800, dim: int = DIM, centres: int = 8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    middle = rng.normal(size=(centres, dim)).astype(np.float32) * 4
    return (middle[rng.integers(0, centres, n)] + rng.normal(size=(n, dim))).astype(np.float32)


def make_collection(folder: Path, model_dir: Path, vectors: np.ndarray, k: int = 8,
                    nprobe: int = 2, paths: list[str] | None = None,
                    ids: list[str | None] | None = None) -> Collection:
    fingerprint = (model_dir / "model.json").read_text()
    import json

    manifest = Manifest(json.loads(fingerprint)["fingerprint"], vectors.shape[1], 64)
    centroids, _ = fit_kmeans(vectors, k)
    paths = paths or [f"/img/{i}.png" for i in range(len(vectors))]
    return Collection.create(folder, model_dir, manifest, vectors, paths,
                             ids or [None] * len(vectors), centroids, default_nprobe=nprobe)


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


def milvus_vectors_folder(folder: Path, model_dir: Path, address: str, vectors: np.ndarray,
                          k: int, nprobe: int = 2, legacy: bool = False) -> Path:
    """A Milvus-mode collection of vectors, ids id00000... in insertion order, k clusters
    fitted as make_collection fits them. legacy: laid out as before generations (a plain
    Milvus collection, no alias), as folders built then still are."""
    import json

    from lookalike.indexer.clustering import assign
    from lookalike.indexer.create import write_folder
    from lookalike.indexer.milvus_folder import create_milvus_collection, write_files
    from lookalike.indexer.milvus_store import MilvusAddress, MilvusVectors

    fingerprint = json.loads((model_dir / "model.json").read_text())["fingerprint"]
    manifest = Manifest(fingerprint, vectors.shape[1], 64)
    centroids, _ = fit_kmeans(vectors, k)
    ids, paths = vector_ids(len(vectors)), [f"/img/{i}.png" for i in range(len(vectors))]
    where = MilvusAddress.parse(address)
    if not legacy:
        create_milvus_collection(folder, model_dir, manifest, vectors, paths, ids, centroids,
                                 nprobe, where)
        return folder
    store = MilvusVectors(where, vectors.shape[1])
    store.create(k)
    store.insert(ids, paths, assign(vectors, centroids), vectors)
    store.close()
    write_folder(folder, model_dir, manifest,
                 lambda work: write_files(work, where, centroids, nprobe))
    return folder


def vector_ids(n: int) -> list[str]:
    """Ids whose text order is their insertion order (Milvus reads rows in id order)."""
    return [f"id{i:05d}" for i in range(n)]
