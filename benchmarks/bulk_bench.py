"""Bulk throughput: `lookalike bulk` machinery against a plain loop of unary Search calls.

Generates N 512x512 JPEGs, builds a small collection from a few of them (1 epoch), serves
it in a subprocess (its own GIL, as in production), and measures in the same run:
  - baseline: one unary Search per image, original bytes, one after another;
  - bulk variants: run_bulk over SearchStream, with/without SDK-side downsizing, 1 or 2
    streams.
Prints one JSON object: medians over --repeats runs and ratios against the baseline.

    .venv/bin/python benchmarks/bulk_bench.py --images 2000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from lookalike.clients.bulk import BulkConfig, run_bulk
from lookalike.clients.client import Client


def make_jpegs(folder: Path, count: int, size: int = 512, seed: int = 0) -> list[Path]:
    """Distinct photo-sized JPEGs: a gradient background and random shapes."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    ramp = np.linspace(0, 1, size, dtype=np.float32)
    paths = []
    for i in range(count):
        a, b = rng.integers(0, 255, (2, 3))
        pixels = (a[None, None] + (b - a)[None, None] * ramp[:, None, None]).astype(np.uint8)
        image = Image.fromarray(np.broadcast_to(pixels, (size, size, 3)).copy())
        draw = ImageDraw.Draw(image)
        for _ in range(6):
            x0, y0 = (int(v) for v in rng.integers(0, size - 60, 2))
            w, h = (int(v) for v in rng.integers(30, size // 2, 2))
            colour = tuple(int(v) for v in rng.integers(0, 255, 3))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(
                (x0, y0, x0 + w, y0 + h), fill=colour)
        path = folder / f"photo_{i:05d}.jpg"
        image.save(path, quality=90)
        paths.append(path)
    return paths


def build(images: Path, out: Path, train_images: int) -> None:
    import shutil

    from lookalike.encoder.train import TrainConfig
    from lookalike.pipeline.build import BuildConfig, build_collection

    subset = out.parent / "train_images"
    subset.mkdir(exist_ok=True)
    for path in sorted(images.iterdir())[:train_images]:
        shutil.copy(path, subset / path.name)
    config = BuildConfig(clusters=8, train_config=TrainConfig(epochs=1, batch_size=64))
    build_collection(subset, out, config)


def serve(collection: Path) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "lookalike.app.cli", "serve", str(collection), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = process.stdout.readline()  # "lookalike serving on HOST:PORT"
    if "serving on" not in line:
        process.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    return process, line.rsplit(" ", 1)[1].strip()


def server_cpu_s(pid: int) -> float:
    """User + system CPU seconds the server process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(run: Callable[[], tuple[float, int]], pid: int) -> dict[str, float]:
    """Runs one variant; its rate and the CPU ms per image on each side."""
    client0, server0 = time.process_time(), server_cpu_s(pid)
    rate, images = run()
    client, server = time.process_time() - client0, server_cpu_s(pid) - server0
    return {"rate": rate, "client_cpu_ms": 1e3 * client / images,
            "server_cpu_ms": 1e3 * server / images}


def unary_loop(target: str, paths: list[Path]) -> tuple[float, int]:
    """Images per second of a plain loop: read the file, one Search, next."""
    with Client(target, downsize=False) as client:
        start = time.perf_counter()
        for path in paths:
            client.search(path.read_bytes(), k=10)
        return len(paths) / (time.perf_counter() - start), len(paths)


def bulk(
    target: str, manifest: Path, out: Path, downsize: bool, concurrency: int,
) -> tuple[float, int]:
    with Client(target, downsize=downsize) as client:
        config = BulkConfig(k=10, concurrency=concurrency, progress=False, overwrite=True)
        summary = run_bulk(manifest, client, out, config)
    assert summary.errors == 0, summary
    return summary.rate, summary.rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--baseline-images", type=int, default=400)
    parser.add_argument("--train-images", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bulk-bench-") as tmp:
        root = Path(tmp)
        paths = make_jpegs(root / "images", args.images)
        manifest = root / "manifest.txt"
        manifest.write_text("\n".join(str(p) for p in paths) + "\n")
        build(root / "images", root / "collection", args.train_images)
        process, target = serve(root / "collection")
        variants = {
            "unary_loop": lambda: unary_loop(target, paths[: args.baseline_images]),
            "bulk_1_stream_no_downsize": lambda: bulk(target, manifest, root / "o.jsonl", False, 1),
            "bulk_1_stream": lambda: bulk(target, manifest, root / "o.jsonl", True, 1),
            "bulk_2_streams": lambda: bulk(target, manifest, root / "o.jsonl", True, 2),
        }
        try:
            variants["bulk_1_stream"]()  # warm-up: caches, server threads
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
            for _ in range(args.repeats):  # interleaved, so drift hits every variant alike
                for name, run in variants.items():
                    runs[name].append(measured(run, process.pid))
        finally:
            process.terminate()
            process.wait(timeout=30)
    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[name])

    base = median("unary_loop", "rate")
    print(json.dumps({
        "images": args.images, "image_size": "512x512 JPEG", "repeats": args.repeats,
        "baseline_images": args.baseline_images, "cpu_count": os.cpu_count(),
        "images_per_s_median": {k: round(median(k, "rate"), 1) for k in runs},
        "images_per_s_all": {k: [round(r["rate"], 1) for r in v] for k, v in runs.items()},
        "ratio_vs_unary_loop": {k: round(median(k, "rate") / base, 2) for k in runs},
        "client_cpu_ms_per_image": {k: round(median(k, "client_cpu_ms"), 3) for k in runs},
        "server_cpu_ms_per_image": {k: round(median(k, "server_cpu_ms"), 3) for k in runs},
    }, indent=2))


if __name__ == "__main__":
    main()
