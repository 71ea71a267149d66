"""Milvus mode against local mode over gRPC, on the same 100K stored vectors, in one run.

The same vectors (random, of the server benchmark's model's dimension, in 316 KMeans
clusters fitted on a sample, default nprobe 8) are written twice: as a local collection
(Faiss + SQLite) and into a Milvus collection. Each is served by a `lookalike serve`
subprocess and asked the same 512x512 JPEG, one call at a time, the two servers alternated
call by call (p50/p99). Then 32 callers against one Milvus-mode server, and against two
servers on the same Milvus collection (16 callers each, summed). Latency does not depend on
what the vectors mean, so random ones stand in for 100K embedded images.

The Milvus server is the `milvus` package's embedded 2.3.5 (a real server, started here,
`proxy.timeTickInterval` set by --tick-ms), or the one --milvus names.

    .venv/bin/python benchmarks/milvus_bench.py [--images 100000] [--calls 300]
        [--tick-ms 10] [--consistency strong|bounded] [--milvus HOST:PORT]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import grpc
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from server_bench import (  # noqa: E402
    K,
    build_collection_once,
    concurrent,
    query_jpeg,
    served,
    summary,
)

from lookalike.indexer.clustering import fit_kmeans  # noqa: E402
from lookalike.indexer.local.create import write_collection  # noqa: E402
from lookalike.indexer.manifest import MODEL_DIR, read_manifest  # noqa: E402
from lookalike.indexer.milvus.folder import create_milvus_collection  # noqa: E402
from lookalike.indexer.milvus.store import MilvusAddress  # noqa: E402
from lookalike.proto.v1 import lookalike_pb2 as pb  # noqa: E402
from lookalike.proto.v1 import lookalike_pb2_grpc as pb_grpc  # noqa: E402

NLIST, NPROBE = 316, 8


def write_both(work: Path, images: int, address: MilvusAddress) -> tuple[Path, Path, dict]:
    """The same vectors as a local collection and in Milvus; returns both folders."""
    source = build_collection_once()
    manifest = read_manifest(source)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(images, manifest.embedding_dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    centroids, _ = fit_kmeans(vectors[rng.choice(images, min(images, 20000), replace=False)],
                              NLIST)
    paths = [f"/images/{n:07d}.jpg" for n in range(images)]
    ids: list[str | None] = [None] * images
    timings = {}
    t0 = time.perf_counter()
    write_collection(work / "local", source / MODEL_DIR, manifest, vectors, paths, ids,
                     centroids, NPROBE)
    timings["write_local_s"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    create_milvus_collection(work / "milvus", source / MODEL_DIR, manifest, vectors, paths,
                             ids, centroids, NPROBE, address)
    timings["write_milvus_s"] = round(time.perf_counter() - t0, 1)
    return work / "local", work / "milvus", timings


def milvus_uri(stack: ExitStack, given: str | None, tick_ms: int) -> str:
    """HOST:PORT of the Milvus given, or of an embedded 2.3.5 started for the run (its
    proxy.timeTickInterval set to tick_ms), stopped when stack closes."""
    if given is not None:
        return given
    from benchmarks.milvus_server import milvus_server

    server = stack.enter_context(milvus_server({"proxy.timeTickInterval": tick_ms}))
    return f"127.0.0.1:{server.listen_port}"


def alternated(targets: dict[str, str], jpeg: bytes, calls: int) -> dict[str, dict]:
    """Sequential Search to each target in turn, call by call."""
    request = pb.SearchRequest(image=jpeg, k=K)
    stubs = {name: pb_grpc.LookalikeStub(grpc.insecure_channel(t)) for name, t in targets.items()}
    times: dict[str, list[float]] = {name: [] for name in targets}
    for _ in range(5):  # warm both
        for stub in stubs.values():
            stub.Search(request, timeout=30)
    for _ in range(calls):
        for name, stub in stubs.items():
            t0 = time.perf_counter()
            stub.Search(request, timeout=30)
            times[name].append(time.perf_counter() - t0)
    return {name: summary(t) for name, t in times.items()}


def spread(targets: list[str], jpeg: bytes, callers: int, seconds: float) -> dict:
    """callers split evenly over targets, run at the same time; rates summed."""
    results: list[dict] = [{} for _ in targets]

    def run(i: int) -> None:
        results[i] = concurrent(targets[i], jpeg, callers // len(targets), seconds)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(targets))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"per_s": round(sum(r["per_s"] for r in results), 1),
            "p50_ms": max(r["p50_ms"] for r in results),
            "p99_ms": max(r["p99_ms"] for r in results)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--callers", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--tick-ms", type=int, default=10,
                        help="the embedded server's proxy.timeTickInterval (Milvus: 200)")
    parser.add_argument("--consistency", default="strong", choices=["strong", "bounded"])
    parser.add_argument("--milvus", help="HOST:PORT of a running Milvus (default: start one)")
    args = parser.parse_args()
    jpeg = query_jpeg()
    with ExitStack() as stack:
        uri = milvus_uri(stack, args.milvus, args.tick_ms)
        name = f"bench{os.getpid()}"
        address = MilvusAddress.parse(f"milvus://{uri}/{name}?consistency={args.consistency}")
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="milvus-bench-")))
        local, milvus, timings = write_both(work, args.images, address)
        local_target = stack.enter_context(served(local))
        milvus_target = stack.enter_context(served(milvus))
        sequential = alternated({"local": local_target, "milvus": milvus_target}, jpeg,
                                args.calls)
        local_conc = concurrent(local_target, jpeg, args.callers, args.seconds)
        one = concurrent(milvus_target, jpeg, args.callers, args.seconds)
        second = stack.enter_context(served(milvus))
        two = spread([milvus_target, second], jpeg, args.callers, args.seconds)
    print(json.dumps({
        "machine": {"cpus": os.cpu_count(), "load_after": os.getloadavg()[0]},
        "images": args.images, "nlist": NLIST, "default_nprobe": NPROBE, "k": K,
        "milvus": {"server": "embedded 2.3.5" if args.milvus is None else args.milvus,
                   "tick_ms": args.tick_ms if args.milvus is None else None,
                   "consistency": args.consistency},
        **timings,
        "grpc_sequential": sequential,
        "milvus_over_local_p50": round(sequential["milvus"]["p50_ms"]
                                       / sequential["local"]["p50_ms"], 2),
        f"local_{args.callers}_callers": local_conc,
        f"milvus_{args.callers}_callers_one_server": one,
        f"milvus_{args.callers}_callers_two_servers": two,
        "two_servers_over_one": round(two["per_s"] / one["per_s"], 2),
    }, indent=2))


if __name__ == "__main__":
    main()
