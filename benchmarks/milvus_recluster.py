"""Reclustering in Milvus mode against local mode, on the same vectors, in one run.

The same random blob vectors are written as a local collection and into a Milvus
collection (the embedded 2.3.5 server, started here, or the one --milvus names), each with
--before clusters; both are then reclustered to --after clusters. While the Milvus one is
reclustered, a second process's view of the collection (as another server) adds one vector
at a time: its add latencies show the write window (the fenced step) against ordinary adds.

    .venv/bin/python benchmarks/milvus_recluster.py [--images 20000] [--dim 96]
        [--before 64] [--after 96] [--milvus HOST:PORT]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.testbed import (  # noqa: E402
    blob_vectors,
    make_collection,
    milvus_vectors_folder,
    save_model,
)
from lookalike.indexer.local.recluster import recluster  # noqa: E402
from lookalike.indexer.milvus.recluster import recluster_milvus  # noqa: E402
from lookalike.indexer.opener import open_collection  # noqa: E402
from lookalike.indexer.recluster import ReclusterConfig  # noqa: E402


def adds_during(folder: Path, dim: int, stop: threading.Event, latencies: list[float]) -> None:
    rng = np.random.default_rng(1)
    with open_collection(folder) as other:
        n = 0
        while not stop.is_set():
            started = time.perf_counter()
            other.add(rng.normal(size=(1, dim)).astype(np.float32), ["/new.png"], [f"new{n}"])
            latencies.append(time.perf_counter() - started)
            n += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--dim", type=int, default=96)
    parser.add_argument("--before", type=int, default=64)
    parser.add_argument("--after", type=int, default=96)
    parser.add_argument("--milvus", help="HOST:PORT of a running Milvus (default: start one)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(relativeCreated)8.0f %(message)s")
    logging.getLogger("lookalike.indexer.milvus.recluster").setLevel(logging.INFO)
    vectors = blob_vectors(n=args.images, dim=args.dim, centres=args.after, seed=0)
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        uri = args.milvus
        if uri is None:
            from benchmarks.milvus_server import milvus_server

            uri = f"127.0.0.1:{stack.enter_context(milvus_server()).listen_port}"
        (work / "model").mkdir()
        save_model(work / "model", args.dim)
        local = make_collection(work / "l", work / "model", vectors, k=args.before)
        folder = milvus_vectors_folder(work / "m", work / "model",
                                       f"milvus://{uri}/bench_recluster{int(time.time())}",
                                       vectors, k=args.before)
        started = time.perf_counter()
        recluster(local, ReclusterConfig(clusters=args.after))
        local_s = time.perf_counter() - started
        local.close()
        stop, latencies = threading.Event(), []
        adder = threading.Thread(target=adds_during, args=(folder, args.dim, stop, latencies))
        with open_collection(folder) as milvus:
            adder.start()
            time.sleep(1.0)
            ordinary = len(latencies)
            started = time.perf_counter()
            report = recluster_milvus(milvus, ReclusterConfig(clusters=args.after), grace_s=0)
            milvus_s = time.perf_counter() - started
            during = latencies[ordinary:]
            stop.set()
            adder.join()
            kept = len(milvus) == args.images + len(latencies)
    print(json.dumps({
        "images": args.images, "dim": args.dim, "clusters": [args.before, args.after],
        "local_recluster_s": round(local_s, 2), "milvus_recluster_s": round(milvus_s, 2),
        "milvus_over_local": round(milvus_s / local_s, 2),
        "default_nprobe": report.default_nprobe,
        "add_ms_before_p50": round(1000 * float(np.median(latencies[:ordinary])), 1),
        "add_ms_during_p50": round(1000 * float(np.median(during)), 1),
        "add_ms_during_max": round(1000 * max(during), 1),
        "adds_during": len(during), "every_add_kept": kept,
    }, indent=2))


if __name__ == "__main__":
    main()
