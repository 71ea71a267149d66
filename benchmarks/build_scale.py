"""`lookalike build` wall time as the collection grows, with the default BuildConfig.

Usage: python benchmarks/build_scale.py [--sizes 5000,20000,100000]

The images are the 2,000 photo crops of _common.photo_crops, repeated with a per-copy
colour shift so no two files are identical, written as 64x64 PNGs (decode is measured
separately by encoder_speed.py). Fine-tuning reads at most BuildConfig.fine_tune_images
of them, so training time should stay flat while decode, embed, KMeans and indexing
grow. Prints JSON: seconds per stage for each size.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from _common import photo_crops  # noqa: E402

from lookalike.pipeline.build import BuildConfig, build_collection  # noqa: E402


def write_images(folder: Path, count: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    crops = [np.asarray(c.convert("RGB").resize((64, 64))) for c in photo_crops(2000)]
    folder.mkdir(parents=True)
    for i in range(count):
        shift = rng.integers(-12, 13, 3)
        pixels = np.clip(crops[i % len(crops)].astype(int) + shift, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:06d}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5000,20000,100000")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    result = {"fine_tune_images": BuildConfig().fine_tune_images, "builds": []}
    for size in map(int, args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            write_images(Path(tmp) / "images", size)
            start = time.perf_counter()
            report = build_collection(Path(tmp) / "images", Path(tmp) / "c", BuildConfig())
            wall = round(time.perf_counter() - start, 1)
            result["builds"].append({"images": size, "wall_s": wall, "stages_s": report.seconds,
                                     "clusters": report.clusters})
        print(json.dumps(result["builds"][-1]), file=sys.stderr, flush=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
