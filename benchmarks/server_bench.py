"""Server latency and throughput on loopback, beside the in-process Engine call.

A 512x512 JPEG (skimage's astronaut) is sent as bytes to a 5,000-image collection served by
a real `lookalike serve` subprocess. In one run it measures:
  - the in-process Engine.search call (the baseline for gRPC overhead) and gRPC Search,
    one caller at a time, alternated call by call (p50/p99 and the sequential rate);
  - gRPC Search from 32 concurrent caller threads, against the same server, and against a
    second server with batching off (--max-batch 1), the baseline for batching.
The collection is built once (an untrained-quality model: latency does not depend on it)
and cached under the temp folder.

    .venv/bin/python benchmarks/server_bench.py [--quick] [--callers 32] [--seconds 5]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import numpy as np
from PIL import Image

from lookalike.proto.v1 import lookalike_pb2 as pb
from lookalike.proto.v1 import lookalike_pb2_grpc as pb_grpc

K = 10
IMAGES = 5000
CACHE = Path(tempfile.gettempdir()) / "lookalike-bench" / f"collection-{IMAGES}"


def build_collection_once(folder: Path = CACHE) -> Path:
    """5,000 generated images, a model trained 1 epoch on 512 of them, 32 clusters.

    A cached collection that no longer loads (the format moved on) is built again.
    """
    import shutil

    from lookalike.common.errors import LookalikeError
    from lookalike.encoder import checkpoint
    from lookalike.indexer.collection import Collection

    if (folder / "manifest.json").exists():
        try:
            Collection.open(folder).close()
            checkpoint.load(folder / "model")
            return folder
        except LookalikeError:
            shutil.rmtree(folder)
    from lookalike.encoder.data import load_images
    from lookalike.encoder.train import TrainConfig, train
    from lookalike.indexer.build import BuildConfig, build_collection

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.conftest import make_images

    images_dir = folder.parent / "images"
    paths = make_images(images_dir, count=IMAGES, size=64)
    sample, _, _ = load_images(paths[:512], 64)
    model = train(sample, config=TrainConfig(epochs=1, batch_size=64))
    report = build_collection(images_dir, folder, BuildConfig(clusters=32), model=model)
    report.collection.close()
    return folder


def query_jpeg() -> bytes:
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def summary(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3),
            "p99_ms": round(float(np.percentile(ms, 99)), 3),
            "mean_ms": round(float(ms.mean()), 3), "n": len(ms)}


def paired(collection: Path, target: str, jpeg: bytes, n: int) -> tuple[dict, dict]:
    """In-process Engine.search and gRPC Search, alternated call by call (ABAB), so load
    from other work on the machine hits both alike."""
    from lookalike.server.app import load_engine
    from lookalike.server.config import ServerConfig

    engine = load_engine(collection, ServerConfig())
    request = pb.SearchRequest(image=jpeg, k=K)
    local: list[float] = []
    remote: list[float] = []
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.LookalikeStub(channel)
        for i in range(n + 20):
            for call, times in ((engine.search, local), (stub.Search, remote)):
                start = time.perf_counter()
                call(request)
                if i >= 20:  # the first calls warm both paths up
                    times.append(time.perf_counter() - start)
    engine.collection.close()
    seq = summary(remote)
    seq["per_s"] = round(n / sum(remote), 1)
    return summary(local), seq


@contextmanager
def served(collection: Path, *flags: str) -> Iterator[str]:
    """A `lookalike serve` subprocess on a free port; yields its target."""
    command = [sys.executable, "-m", "lookalike.clients.cli", "serve", str(collection),
               "--port", "0", "--quiet", *flags]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline() if process.stdout else ""
        if "serving on" not in line:
            raise RuntimeError(f"the server did not start: {line!r}")
        yield line.strip().rsplit(" ", 1)[-1]
    finally:
        process.terminate()
        process.wait(timeout=30)


def concurrent(target: str, jpeg: bytes, callers: int, seconds: float) -> dict[str, float]:
    """callers threads, each on its own channel, calling Search back to back for `seconds`."""
    request = pb.SearchRequest(image=jpeg, k=K)
    times: list[float] = []
    lock = threading.Lock()
    start_gate = threading.Barrier(callers + 1)
    stop_at = [0.0]

    def caller() -> None:
        mine = []
        with grpc.insecure_channel(target) as channel:
            stub = pb_grpc.LookalikeStub(channel)
            stub.Search(request, timeout=10)
            start_gate.wait()
            while time.perf_counter() < stop_at[0]:
                t0 = time.perf_counter()
                stub.Search(request, timeout=30)
                mine.append(time.perf_counter() - t0)
        with lock:
            times.extend(mine)

    threads = [threading.Thread(target=caller) for _ in range(callers)]
    for t in threads:
        t.start()
    stop_at[0] = time.perf_counter() + seconds + 3600  # placeholder until all are ready
    start_gate.wait()
    began = time.perf_counter()
    stop_at[0] = began + seconds
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    result = summary(times)
    result["per_s"] = round(len(times) / elapsed, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls (a smoke run)")
    parser.add_argument("--callers", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    from lookalike.server.runtime import limit_threads

    limit_threads(1, 1)  # as `lookalike serve` does, so the in-process baseline matches
    n = 100 if args.quick else 1000
    seconds = 1.0 if args.quick else args.seconds
    collection = build_collection_once()
    jpeg = query_jpeg()
    with served(collection) as target:
        base, seq = paired(collection, target, jpeg, n)
        conc = concurrent(target, jpeg, args.callers, seconds)
    with served(collection, "--max-batch", "1") as target:
        unbatched = concurrent(target, jpeg, args.callers, seconds)
    print(json.dumps({
        "machine": {"cpus": os.cpu_count()},
        "collection_images": IMAGES, "query": f"512x512 JPEG, {len(jpeg)} bytes", "k": K,
        "in_process": base,
        "grpc_sequential": seq,
        f"grpc_{args.callers}_callers": conc,
        f"grpc_{args.callers}_callers_unbatched": unbatched,
        "grpc_overhead_p50_ms": round(seq["p50_ms"] - base["p50_ms"], 3),
        "concurrent_over_sequential": round(conc["per_s"] / seq["per_s"], 2),
        "batched_over_unbatched": round(conc["per_s"] / unbatched["per_s"], 2),
    }, indent=2))


if __name__ == "__main__":
    main()
