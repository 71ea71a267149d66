"""Encoder retrieval quality with default settings, beside pixel, PCA and pHash baselines.

Usage: python benchmarks/encoder_quality.py [--gallery 2000] [--epochs N] [--only mnist|dup]

Prints one JSON object. Retrieval is exact L2 search, as the product does at full nprobe.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import (  # noqa: E402
    edited_copy,
    jpeg_bytes,
    mnist,
    photo_crops,
    pixels,
    precision_at_k,
    top1_rate,
)

from lookalike.encoder.data import decode_image  # noqa: E402
from lookalike.encoder.embed import Embedder  # noqa: E402
from lookalike.encoder.model import ModelConfig  # noqa: E402
from lookalike.encoder.train import TrainConfig, train  # noqa: E402


def pca(train_x: np.ndarray, *others: np.ndarray, dim: int = 32) -> list[np.ndarray]:
    from sklearn.decomposition import PCA

    model = PCA(dim, random_state=0).fit(train_x)
    return [model.transform(x) for x in (train_x, *others)]


def trained_embedder(images: np.ndarray, config: TrainConfig) -> tuple[Embedder, dict]:
    start = time.perf_counter()
    checkpoint = train(images, ModelConfig(image_size=images.shape[1]), config)
    seconds = time.perf_counter() - start
    info = {"train_s": round(seconds, 1), "epochs_run": checkpoint.meta["epochs_run"],
            "train_images_per_s": checkpoint.meta["images_per_s"]}
    return Embedder(checkpoint), info


def mnist_quality(config: TrainConfig) -> dict:
    images, labels = mnist()
    raw = pixels(images)
    embedder, info = trained_embedder(images, config)
    return {
        "images": len(images),
        "precision_at_10": {
            "encoder": round(precision_at_k(embedder(images), labels), 4),
            "raw_pixels": round(precision_at_k(raw, labels), 4),
            "pca_32": round(precision_at_k(pca(raw)[0], labels), 4),
        },
        **info,
    }


def phash_bits(data: list[bytes]) -> np.ndarray:
    """pHash as 0/1 floats: squared L2 between them is the Hamming distance."""
    import imagehash
    from PIL import Image

    return np.stack([imagehash.phash(Image.open(io.BytesIO(d))).hash.ravel() for d in data]
                    ).astype(np.float32)


def near_duplicate_quality(config: TrainConfig, count: int, size: int = 64) -> dict:
    rng = np.random.default_rng(1)
    crops = photo_crops(count)
    gallery_bytes = [jpeg_bytes(c, 90) for c in crops]
    query_bytes = [edited_copy(c, rng) for c in crops]
    gallery = np.stack([decode_image(b, size) for b in gallery_bytes])
    queries = np.stack([decode_image(b, size) for b in query_bytes])
    embedder, info = trained_embedder(gallery, config)
    raw_g, raw_q = pixels(gallery), pixels(queries)
    pca_g, pca_q = pca(raw_g, raw_q)
    return {
        "gallery": count,
        "top1": {
            "encoder": round(top1_rate(embedder(gallery), embedder(queries)), 4),
            "raw_pixels": round(top1_rate(raw_g, raw_q), 4),
            "raw_pixels_16px": round(top1_rate(pixels(gallery, 16), pixels(queries, 16)), 4),
            "pca_32": round(top1_rate(pca_g, pca_q), 4),
            "phash": round(top1_rate(phash_bits(gallery_bytes), phash_bits(query_bytes)), 4),
        },
        **info,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gallery", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=None, help="default: TrainConfig's")
    parser.add_argument("--only", choices=["mnist", "dup"], default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    config = TrainConfig(**({"epochs": args.epochs} if args.epochs else {}))
    result: dict = {"train_config": {"epochs": config.epochs or "auto",
                                     "batch_size": config.batch_size}}
    if args.only in (None, "mnist"):
        result["mnist"] = mnist_quality(config)
        logging.warning("mnist: %s", json.dumps(result["mnist"]))
    if args.only in (None, "dup"):
        result["near_duplicates"] = near_duplicate_quality(config, args.gallery)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
