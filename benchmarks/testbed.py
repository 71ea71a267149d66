"""What tests and benchmarks share: generated images, blob vectors, collections made straight
from vectors (a tiny untrained model, no training), local or in Milvus, and recall@k."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from lookalike.indexer.clustering import fit_kmeans
from lookalike.indexer.local.collection import Collection
from lookalike.indexer.manifest import Manifest

DIM = 16


def make_images(folder: Path, count: int = 48, size: int = 96, seed: int = 0) -> list[Path]:
    """Distinct images: coloured backgrounds with random shapes, as PNG and JPEG."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        image = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(0, 255, 3)))
        draw = ImageDraw.Draw(image)
        for _ in range(4):
            x0, y0 = rng.integers(0, size - 20, 2)
            w, h = rng.integers(10, size // 2, 2)
            colour = tuple(int(v) for v in rng.integers(0, 255, 3))
            box = (int(x0), int(y0), int(x0 + w), int(y0 + h))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
        path = folder / f"img_{i:03d}.{'png' if i % 2 else 'jpg'}"
        image.save(path)
        paths.append(path)
    return paths


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
    manifest = Manifest(json.loads(fingerprint)["fingerprint"], vectors.shape[1], 64)
    centroids, _ = fit_kmeans(vectors, k)
    paths = paths or [f"/img/{i}.png" for i in range(len(vectors))]
    return Collection.create(folder, model_dir, manifest, vectors, paths,
                             ids or [None] * len(vectors), centroids, default_nprobe=nprobe)


def milvus_vectors_folder(folder: Path, model_dir: Path, address: str, vectors: np.ndarray,
                          k: int, nprobe: int = 2, legacy: bool = False) -> Path:
    """A Milvus-mode collection of vectors, ids id00000... in insertion order, k clusters
    fitted as make_collection fits them. legacy: laid out as before generations (a plain
    Milvus collection, no alias), as folders built then still are."""
    from lookalike.indexer.clustering import assign
    from lookalike.indexer.folder import write_folder
    from lookalike.indexer.milvus.address import MilvusAddress
    from lookalike.indexer.milvus.folder import create_milvus_collection, write_files
    from lookalike.indexer.milvus.store import MilvusVectors

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
    store.create(k, payloads=False)  # built before labels too
    store.insert(ids, paths, assign(vectors, centroids), vectors)
    store.close()
    write_folder(folder, model_dir, manifest,
                 lambda work: write_files(work, where, centroids, nprobe))
    return folder


def vector_ids(n: int) -> list[str]:
    """Ids whose text order is their insertion order (Milvus reads rows in id order)."""
    return [f"id{i:05d}" for i in range(n)]


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of the true top-k ids found, per query; -1 entries never match."""
    hits = [len(set(f[f >= 0]) & set(t[t >= 0])) / max(1, (t >= 0).sum())
            for f, t in zip(found, truth, strict=True)]
    return float(np.mean(hits))


def emit(result: dict, out: Path | None = None) -> None:
    """Prints a benchmark's result as JSON, and writes it to out when given."""
    text = json.dumps(result, indent=2)
    print(text)
    if out:
        out.write_text(text + "\n")
