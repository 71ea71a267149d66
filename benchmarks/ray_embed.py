"""Ray Data decode+embed against the local pipeline (threads + Embedder), in the same run.

Usage: python benchmarks/ray_embed.py [--images 10000] [--actors 2] [--size 256]

Writes synthetic JPEGs (bulk_bench's) into a temp folder, embeds them with the shipped base
model both ways, and prints one JSON object: images/s each, their ratio, and whether the
vectors are bit-identical. The Ray figures start from a local Ray started by this script
(its start-up timed apart) and include the actors' start-up (JAX import, compilation).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bulk_bench import make_jpegs  # noqa: E402

from lookalike.common.sources import read_sources  # noqa: E402
from lookalike.encoder.pretrained import load_base  # noqa: E402
from lookalike.pipeline import ray_embed  # noqa: E402
from lookalike.pipeline.inputs import read_vectors  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--size", type=int, default=256, help="side of the generated JPEGs")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    model = load_base()
    result: dict = {"images": args.images, "image_size": args.size, "model": model.fingerprint,
                    "cpus": os.cpu_count(), "load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="ray-bench-") as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        make_jpegs(folder, args.images, args.size)
        result["generate_s"] = round(time.perf_counter() - start, 1)

        start = time.perf_counter()
        local = read_vectors(model, folder)
        local_s = time.perf_counter() - start

        start = time.perf_counter()
        with ray_embed.ray_session(ray_embed.LOCAL):
            init_s = time.perf_counter() - start
            config = ray_embed.RayConfig(actors=args.actors)
            start = time.perf_counter()
            on_ray = ray_embed.read_vectors(model, read_sources(folder), config)
            ray_s = time.perf_counter() - start
    result["local"] = {"seconds": round(local_s, 1),
                       "images_per_s": round(len(local.sources) / local_s, 1),
                       "how": "read_images (4 decode threads) + Embedder, one process"}
    result["ray"] = {"init_s": round(init_s, 1), "seconds": round(ray_s, 1),
                     "images_per_s": round(len(on_ray.sources) / ray_s, 1),
                     "how": f"local Ray, decode tasks + {config.actors} actors at "
                            f"{config.actor_cpus} CPU, actor start-up included"}
    result["ratio_ray_over_local"] = round(local_s / ray_s, 2)
    result["vectors_equal"] = bool(np.array_equal(local.vectors, on_ray.vectors))
    result["max_abs_diff"] = float(np.abs(local.vectors - on_ray.vectors).max())
    result["same_sources"] = on_ray.sources == local.sources
    result["load_after"] = os.getloadavg()
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
