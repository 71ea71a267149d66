"""Thumbnails through a real server, cold and cached, and what keeping them on disk would cost.

A collection of real-size JPEGs (1024x768, quality 90: random crops of scikit-learn's two
bundled photos, resized and recoloured, so every file differs) is served on a free port;
the SDK asks for every id's thumbnail, 100 per call:
  - cold: a fresh server, nothing cached (each file read, decoded with JPEG draft, shrunk,
    JPEG-coded);
  - cached: the same ids again (the server's LRU cache);
  - the baseline in the same run: common.imaging.thumbnail on the same files in this
    process, one at a time, with no server (what the cold path costs at least).
The disk figure: the mean size of the 128-px JPEG the server sends, times 100,000 images,
which is what keeping 128-px thumbnails with the collection would cost (the other way of
issue 26); at 64 and 256 px besides.

    .venv/bin/python benchmarks/thumbnail_bench.py [--images 400] [--out FILE]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.testbed import blob_vectors, emit, make_collection, save_model  # noqa: E402
from lookalike.clients import Client  # noqa: E402
from lookalike.common import imaging  # noqa: E402

AT_SCALE = 100_000  # the collection size for the disk cost
SIDE = (1024, 768)


def real_size_jpegs(folder: Path, count: int, seed: int = 0) -> list[Path]:
    from sklearn.datasets import load_sample_images

    rng = np.random.default_rng(seed)
    photos = [Image.fromarray(p) for p in load_sample_images().images]  # 640x427 each
    paths = []
    for n in range(count):
        photo = photos[n % len(photos)]
        w, h = photo.size
        cw, ch = int(w * rng.uniform(0.5, 1.0)), int(h * rng.uniform(0.5, 1.0))
        left, top = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
        image = photo.crop((left, top, left + cw, top + ch)).resize(SIDE, Image.BICUBIC)
        image = ImageEnhance.Color(image).enhance(rng.uniform(0.6, 1.4))
        path = folder / f"photo_{n:05d}.jpg"
        image.save(path, "JPEG", quality=90)
        paths.append(path)
    return paths


def rate(client: Client, ids: list[str], size: int) -> tuple[float, list]:
    start = time.perf_counter()
    got = client.thumbnails(ids, size=size)
    return len(ids) / (time.perf_counter() - start), got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    from lookalike.server.config import ServerConfig
    from lookalike.server.grpc_server import create_server

    with tempfile.TemporaryDirectory(prefix="thumb-bench-") as tmp:
        root = Path(tmp)
        (root / "images").mkdir()
        files = real_size_jpegs(root / "images", args.images)
        save_model(root / "model")
        make_collection(root / "c", root / "model", blob_vectors(len(files)), k=4,
                        paths=[str(p) for p in files],
                        ids=[p.stem for p in files]).close()
        ids = [p.stem for p in files]
        start = time.perf_counter()
        for path in files:
            imaging.thumbnail(path, 128)
        in_process = len(files) / (time.perf_counter() - start)
        out: dict = {"images": len(files), "file_side": list(SIDE),
                     "mean_file_kb": round(np.mean([p.stat().st_size for p in files]) / 1024, 1),
                     "cores": len(os.sched_getaffinity(0)),
                     "in_process_thumbnails_per_s_128": round(in_process, 1)}
        running = create_server(root / "c", ServerConfig(port=0))
        try:
            with Client(f"127.0.0.1:{running.port}", timeout=120) as client:
                cold, got = rate(client, ids, 128)
                cached, _ = rate(client, ids, 128)
                out["server_cold_thumbnails_per_s_128"] = round(cold, 1)
                out["server_cached_thumbnails_per_s_128"] = round(cached, 1)
                assert {t.status for t in got} == {"ok"}
                for size in (64, 128, 256):
                    thumbs = got if size == 128 else client.thumbnails(ids, size=size)
                    mean = float(np.mean([len(t.image) for t in thumbs]))
                    out[f"mean_thumbnail_bytes_{size}"] = round(mean)
                    out[f"disk_at_100k_mb_{size}"] = round(mean * AT_SCALE / 1e6, 1)
                side = Image.open(io.BytesIO(got[0].image)).size
                out["thumbnail_side_128"] = list(side)
                cache = running.engine.thumbnails.cache
                out["cache_bytes_after"] = cache.bytes
                out["cache_items_after"] = len(cache)
        finally:
            running.stop(grace_s=1)
    emit(out, args.out)


if __name__ == "__main__":
    main()
