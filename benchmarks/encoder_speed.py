"""Encoder speed: training vs the plain ConvTranspose autoencoder, embedding, compile cache, build.

Usage: python benchmarks/encoder_speed.py [--steps 8] [--pipeline 5000 | --pipeline 0]

Prints one JSON object. The baseline is GUIDE §6's autoencoder, run in this same process.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

sys.path.insert(0, str(Path(__file__).parent))
from _common import PlainAutoencoder, median_time, photo_crops, plain_step  # noqa: E402

from lookalike.encoder import checkpoint  # noqa: E402
from lookalike.encoder.embed import Embedder  # noqa: E402
from lookalike.encoder.model import Autoencoder, ModelConfig  # noqa: E402
from lookalike.encoder.train import TrainConfig, train_step  # noqa: E402


def training_throughput(steps: int, batch: int = 128) -> dict:
    """Median seconds per step after compilation, alternating the two models in rounds."""
    data = jnp.asarray(np.random.default_rng(0).integers(0, 255, (1024, 64, 64, 3), np.uint8))
    plain = PlainAutoencoder(nnx.Rngs(0))
    plain_opt = nnx.Optimizer(plain, optax.adam(1e-3), wrt=nnx.Param)
    ours = Autoencoder(ModelConfig(), nnx.Rngs(0))
    ours_opt = nnx.Optimizer(ours, optax.adam(1e-3), wrt=nnx.Param)
    config, index = TrainConfig(), jnp.arange(batch)
    key = jax.random.key(0)

    def run_plain() -> None:
        jax.block_until_ready(plain_step(plain, plain_opt, data[:batch]))

    def run_ours() -> None:
        jax.block_until_ready(train_step(ours, ours_opt, data, data, index, key, config))

    run_plain(), run_ours()  # compile
    plain_s, ours_s = [], []
    for _ in range(steps):
        plain_s.append(median_time(run_plain, 1))
        ours_s.append(median_time(run_ours, 1))
    plain_ips, ours_ips = batch / np.median(plain_s), batch / np.median(ours_s)
    return {"batch": batch, "steps": steps,
            "baseline_convtranspose_images_per_s": round(float(plain_ips), 1),
            "ours_images_per_s": round(float(ours_ips), 1),
            "ratio": round(float(ours_ips / plain_ips), 2),
            "note": "ours runs two augmented views per image, baseline one plain pass"}


def embedding_throughput(folder: Path, n: int = 5000) -> dict:
    embedder = Embedder(checkpoint.load(folder))
    embedder.warmup()
    images = np.random.default_rng(0).integers(0, 255, (n, 64, 64, 3), np.uint8)
    seconds = median_time(lambda: embedder(images), 3)
    compiled = embedder._embed._cache_size()
    embedder(images[:37]), embedder(images[:3]), embedder(images[:1001])
    return {"images": n, "images_per_s": round(n / seconds, 1),
            "compiled_shapes_after_warmup": compiled,
            "compiled_shapes_after_odd_batches": embedder._embed._cache_size()}


FIRST_EMBED = """
import sys, time
t = time.perf_counter()
from lookalike.encoder import checkpoint
from lookalike.encoder.embed import Embedder, enable_compilation_cache
import numpy as np
enable_compilation_cache(sys.argv[2])
e = Embedder(checkpoint.load(sys.argv[1]))
s = time.perf_counter()
e(np.zeros((1, 64, 64, 3), np.uint8))
print(time.perf_counter() - s, s - t)
"""


def first_embed_latency(folder: Path, cache: Path, runs: int = 3) -> dict:
    """A fresh process's first embedding, with an empty and then a warm persistent cache."""
    cold = [_first(folder, cache / f"cold{i}") for i in range(runs)]
    warm = [_first(folder, cache / "cold0") for _ in range(runs)]
    return {"cold_cache_ms": round(1000 * float(np.median(cold)), 1),
            "warm_cache_ms": round(1000 * float(np.median(warm)), 1)}


def _first(folder: Path, cache: Path) -> float:
    out = subprocess.run([sys.executable, "-c", FIRST_EMBED, str(folder), str(cache)],
                         capture_output=True, text=True, check=True).stdout.split()
    return float(out[0])


def build_like_pipeline(folder: Path, count: int) -> dict:
    """decode -> train (defaults) -> embed -> KMeans + per-cluster Faiss, on 512px JPEGs."""
    import faiss
    from sklearn.cluster import KMeans

    from lookalike.encoder.data import load_images
    from lookalike.encoder.train import train

    folder.mkdir(parents=True)
    paths = []
    for i, crop in enumerate(photo_crops(count, tries=1)):
        paths.append(folder / f"{i:05d}.jpg")
        crop.resize((512, 512)).save(paths[-1], quality=90)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        seconds[stage] = round(time.perf_counter() - clock, 1)
        clock = time.perf_counter()

    images, _, _ = load_images(paths, 64)
    lap("decode")
    model = train(images)
    lap("train")
    vectors = Embedder(model)(images)
    lap("embed")
    k = 32
    labels = KMeans(k, n_init=1, random_state=0).fit_predict(vectors)
    for c in range(k):
        faiss.IndexFlatL2(vectors.shape[1]).add(vectors[labels == c])
    lap("cluster_index")
    return {"images": count, "seconds": seconds, "total_s": round(sum(seconds.values()), 1),
            "epochs_run": model.meta["epochs_run"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--pipeline", type=int, default=5000, help="JPEGs to build; 0 skips")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    result: dict = {"training": training_throughput(args.steps)}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "model"
        checkpoint.save(checkpoint.Checkpoint(Autoencoder(ModelConfig(), nnx.Rngs(0)),
                                              ModelConfig()), folder)
        result["embedding"] = embedding_throughput(folder)
        result["first_embed_fresh_process"] = first_embed_latency(folder, Path(tmp) / "cache")
        if args.pipeline:
            result["pipeline"] = build_like_pipeline(Path(tmp) / "jpegs", args.pipeline)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
