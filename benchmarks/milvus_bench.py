"""Milvus mode against local mode over gRPC, on the same 100K stored vectors, in one run.

The same vectors (random, of the server benchmark's model's dimension, in 316 KMeans
clusters fitted on a sample, default nprobe 8) are written twice: as a local collection
(Faiss + SQLite) and into a Milvus collection. Each is served by a `lookalike serve`
subprocess and asked the same 512x512 JPEG, one call at a time, the two servers alternated
call by call (p50/p99). Then 32 callers against one Milvus-mode server, and against two
servers on the same Milvus collection (16 callers each, summed). Latency does not depend on
what the vectors mean, so random ones stand in for 100K embedded images.

The writes part times Add (one image per call, as `lookalike add photo.jpg`) and the Info
after it, local against Milvus alternated call by call, under `serve --processes 1` and
`--processes 2` (each a real `lookalike serve` subprocess; a group refreshes its image-count
gauge after every write, which once cost a Milvus count per cluster).

The Milvus server is the `milvus` package's embedded 2.3.5 (a real server, started here,
`proxy.timeTickInterval` set by --tick-ms), or the one --milvus names.

    .venv/bin/python benchmarks/milvus_bench.py [--images 100000] [--calls 300]
        [--tick-ms 10] [--consistency strong|bounded] [--milvus HOST:PORT]
        [--part all|search|writes] [--write-calls 100] [--rounds 3]
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
from lookalike.indexer.milvus.address import MilvusAddress  # noqa: E402
from lookalike.indexer.milvus.folder import create_milvus_collection  # noqa: E402
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


def writes(targets: dict[str, str], jpeg: bytes, calls: int) -> dict[str, dict]:
    """One-image Add, then Info, to each target in turn, call by call (p50/p99 of each)."""
    stubs = {name: pb_grpc.LookalikeStub(grpc.insecure_channel(t)) for name, t in targets.items()}
    times: dict[str, dict[str, list[float]]] = {n: {"add": [], "info": []} for n in targets}

    def add(stub: pb_grpc.LookalikeStub, n: int) -> float:
        t0 = time.perf_counter()
        (answer,) = stub.Add(iter([pb.AddRequest(image=jpeg, path=f"/bench/{n}.jpg")]),
                             timeout=60)
        if answer.HasField("error"):
            raise RuntimeError(f"the add was refused: {answer.error}")
        return time.perf_counter() - t0

    def info(stub: pb_grpc.LookalikeStub) -> float:
        t0 = time.perf_counter()
        stub.Info(pb.InfoRequest(), timeout=60)
        return time.perf_counter() - t0

    for n in range(3):  # warm both
        for stub in stubs.values():
            add(stub, -1 - n)
            info(stub)
    for n in range(calls):
        for name, stub in stubs.items():
            times[name]["add"].append(add(stub, n))
            times[name]["info"].append(info(stub))
    return {name: {kind: summary(t) for kind, t in both.items()}
            for name, both in times.items()}


def writes_by_processes(local: Path, milvus: Path, jpeg: bytes, calls: int,
                        rounds: int) -> dict:
    """writes() under `serve --processes 1` and 2, local and Milvus side by side: each
    figure the median of rounds rounds on the same servers."""
    found: dict = {}
    for processes in (1, 2):
        flags = ("--processes", str(processes))
        with served(local, *flags) as local_target, served(milvus, *flags) as milvus_target:
            runs = [writes({"local": local_target, "milvus": milvus_target}, jpeg, calls)
                    for _ in range(rounds)]
        got: dict = {store: {kind: {stat: float(np.median([r[store][kind][stat] for r in runs]))
                                    for stat in ("p50_ms", "p99_ms", "mean_ms")}
                             | {"p50_ms_rounds": [r[store][kind]["p50_ms"] for r in runs]}
                             for kind in ("add", "info")}
                     for store in ("local", "milvus")}
        got["milvus_over_local_add_p50"] = round(got["milvus"]["add"]["p50_ms"]
                                                 / got["local"]["add"]["p50_ms"], 2)
        found[f"processes_{processes}"] = got
    found["milvus_recount_s"] = recount_seconds(milvus)
    return found


def recount_seconds(folder: Path) -> float:
    """How long a Milvus-mode server takes to count every cluster (on load, and in the
    background when other servers wrote; indexer/milvus/sizes.py)."""
    from lookalike.indexer.milvus.collection import MilvusCollection

    with MilvusCollection.open(folder, read_only=True) as collection:
        generation = collection.generation()
        t0 = time.perf_counter()
        collection.sizes.recount(generation)
        return round(time.perf_counter() - t0, 2)


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
    parser.add_argument("--part", default="all", choices=["all", "search", "writes"],
                        help="search: Search latency and throughput; writes: Add and Info "
                        "under --processes 1 and 2")
    parser.add_argument("--write-calls", type=int, default=100,
                        help="Add+Info pairs per store, process count and round")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of --write-calls; the figures are their medians")
    args = parser.parse_args()
    jpeg = query_jpeg()
    found: dict = {}
    with ExitStack() as stack:
        uri = milvus_uri(stack, args.milvus, args.tick_ms)
        name = f"bench{os.getpid()}"
        address = MilvusAddress.parse(f"milvus://{uri}/{name}?consistency={args.consistency}")
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="milvus-bench-")))
        local, milvus, timings = write_both(work, args.images, address)
        if args.part in ("all", "search"):
            found.update(search_part(local, milvus, jpeg, args))
        if args.part in ("all", "writes"):  # after search: its adds change the collections
            found["writes"] = writes_by_processes(local, milvus, jpeg, args.write_calls,
                                                  args.rounds)
    print(json.dumps({
        "machine": {"cpus": os.cpu_count(), "load_after": os.getloadavg()[0]},
        "images": args.images, "nlist": NLIST, "default_nprobe": NPROBE, "k": K,
        "milvus": {"server": "embedded 2.3.5" if args.milvus is None else args.milvus,
                   "tick_ms": args.tick_ms if args.milvus is None else None,
                   "consistency": args.consistency},
        **timings, **found,
    }, indent=2))


def search_part(local: Path, milvus: Path, jpeg: bytes, args: argparse.Namespace) -> dict:
    """Sequential Search alternated, then concurrent callers on one and two servers."""
    with ExitStack() as stack:
        local_target = stack.enter_context(served(local))
        milvus_target = stack.enter_context(served(milvus))
        sequential = alternated({"local": local_target, "milvus": milvus_target}, jpeg,
                                args.calls)
        local_conc = concurrent(local_target, jpeg, args.callers, args.seconds)
        one = concurrent(milvus_target, jpeg, args.callers, args.seconds)
        second = stack.enter_context(served(milvus))
        two = spread([milvus_target, second], jpeg, args.callers, args.seconds)
    return {
        "grpc_sequential": sequential,
        "milvus_over_local_p50": round(sequential["milvus"]["p50_ms"]
                                       / sequential["local"]["p50_ms"], 2),
        f"local_{args.callers}_callers": local_conc,
        f"milvus_{args.callers}_callers_one_server": one,
        f"milvus_{args.callers}_callers_two_servers": two,
        "two_servers_over_one": round(two["per_s"] / one["per_s"], 2),
    }


if __name__ == "__main__":
    main()
