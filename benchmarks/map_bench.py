"""The collection map's cost and quality by method, at 5K, 20K and 100K images, JSON out.

Vectors: testbed.blob_vectors (96-d, the whitened dimension a build stores; 64 blobs).
Methods, each through indexer/map_compute.compute_map:
  - full: openTSNE FFT t-SNE on every image (the baseline);
  - sample S + knn: t-SNE on S images, the rest at the mean of their 10 nearest sampled ones;
  - sample S + transform: the rest placed by openTSNE's TSNEEmbedding.transform.
Quality, on 2,000 random images: the share of each one's 10 nearest neighbours in the
embedding that are among its 10 nearest on the map (kNN kept), and the share of its 10
nearest on the map that come from its own blob (blob purity).

    nice -n 10 .venv/bin/python benchmarks/map_bench.py [--sizes 5000,20000,100000]
        [--methods full,knn,transform] [--samples 5000,10000] [--threads 1] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.testbed import emit  # noqa: E402
from lookalike.indexer.map_compute import MapConfig, compute_map  # noqa: E402

DIM, BLOBS, PROBE, K = 96, 64, 2000, 10


def blobs(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """testbed.blob_vectors' recipe, with each vector's blob kept for the purity score."""
    rng = np.random.default_rng(seed)
    middle = rng.normal(size=(BLOBS, DIM)).astype(np.float32) * 4
    labels = rng.integers(0, BLOBS, n)
    return (middle[labels] + rng.normal(size=(n, DIM))).astype(np.float32), labels


def knn(points: np.ndarray, probe: np.ndarray, k: int) -> np.ndarray:
    index = faiss.IndexFlatL2(points.shape[1])
    index.add(np.ascontiguousarray(points, np.float32))
    _, found = index.search(np.ascontiguousarray(points[probe], np.float32), k + 1)
    return found[:, 1:]  # itself first


def quality(vectors: np.ndarray, labels: np.ndarray, xy: np.ndarray) -> dict[str, float]:
    probe = np.random.default_rng(1).choice(len(vectors), min(PROBE, len(vectors)), False)
    high, low = knn(vectors, probe, K), knn(xy, probe, K)
    kept = np.mean([len(set(a) & set(b)) / K for a, b in zip(high, low, strict=True)])
    purity = float((labels[low] == labels[probe][:, None]).mean())
    return {"knn_kept": round(float(kept), 3), "blob_purity": round(purity, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="5000,20000,100000")
    parser.add_argument("--methods", default="full,knn,transform")
    parser.add_argument("--samples", default="5000,10000")
    parser.add_argument("--threads", type=int, default=1, help="t-SNE threads (the product's 1)")
    parser.add_argument("--full-max", type=int, default=100_000,
                        help="skip full t-SNE above this many images")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        vectors, labels = blobs(n)
        plans = []
        for method in args.methods.split(","):
            if method == "full":
                if n <= args.full_max:
                    plans.append(("full", MapConfig(sample=0, threads=args.threads)))
                continue
            for s in (int(x) for x in args.samples.split(",")):
                if s < n:
                    plans.append((f"sample {s} + {method}",
                                  MapConfig(sample=s, placement=method, threads=args.threads)))
        for name, config in plans:
            start = time.perf_counter()
            cpu = time.process_time()
            xy = compute_map(vectors, config)
            row = {"images": n, "method": name,
                   "seconds": round(time.perf_counter() - start, 1),
                   "cpu_seconds": round(time.process_time() - cpu, 1),
                   **quality(vectors, labels, xy)}
            print(json.dumps(row), file=sys.stderr, flush=True)
            rows.append(row)
    emit({"threads": args.threads, "cores": len(os.sched_getaffinity(0)), "dim": DIM,
          "blobs": BLOBS, "rows": rows}, args.out)


if __name__ == "__main__":
    main()
