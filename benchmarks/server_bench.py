"""Server latency and throughput on loopback, beside the in-process Engine call.

A 512x512 JPEG (skimage's astronaut) is sent as bytes to a 5,000-image collection served by
a real `lookalike serve` subprocess. In one run it measures:
  - the in-process Engine.search call (the baseline for gRPC overhead), gRPC Search, and
    the same call to a bare grpcio server that only parses the request and returns a fixed
    answer (the floor of Python gRPC on loopback for this payload), one caller at a time,
    alternated call by call (p50/p99 and the sequential rate);
  - gRPC Search from 32 concurrent caller threads, against the same server, and against a
    second server with batching off (--max-batch 1), the baseline for batching.
The collection is built once (an untrained-quality model: latency does not depend on it)
and cached under the temp folder.

With --processes 1,2 it instead compares `lookalike serve --processes N` for each N in one
run: the servers run side by side (each on its own copy of the collection) and are measured
in turns, round after round, so load from elsewhere on the machine hits them alike. Per
round: one caller (calls alternated between the servers), then 32 callers, each with a
connection of its own (the kernel spreads connections, not calls, over the workers).
Figures are the medians over rounds, with each server's startup time and memory (PSS).

    .venv/bin/python benchmarks/server_bench.py [--quick] [--callers 32] [--seconds 5]
    .venv/bin/python benchmarks/server_bench.py --processes 1,2 [--rounds 3] [--seconds 5]
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
    from lookalike.indexer.local.collection import Collection

    if (folder / "manifest.json").exists():
        try:
            Collection.open(folder).close()
            checkpoint.load(folder / "model")
            return folder
        except LookalikeError:
            shutil.rmtree(folder)
    from lookalike.encoder.data import load_images
    from lookalike.encoder.train import TrainConfig, train
    from lookalike.pipeline.build import BuildConfig, build_collection

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.testbed import make_images

    images_dir = folder.parent / "images"
    paths = make_images(images_dir, count=IMAGES, size=64)
    sample, _, _ = load_images(paths[:512], 64)
    model = train(sample, config=TrainConfig(epochs=1, batch_size=64))
    build_collection(images_dir, folder, BuildConfig(clusters=32), model=model)
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


def paired(collection: Path, target: str, echo: str, jpeg: bytes,
           n: int) -> tuple[dict, dict, dict]:
    """In-process Engine.search, gRPC Search and the bare echo server's Search, alternated
    call by call, so load from other work on the machine hits all three alike."""
    import shutil
    import tempfile

    from lookalike.server.config import ServerConfig
    from lookalike.server.grpc_server import load_engine

    # The served collection is locked by its server; the in-process engine gets a copy.
    copy = Path(tempfile.mkdtemp()) / "collection"
    shutil.copytree(collection, copy, ignore=shutil.ignore_patterns("collection.lock"))
    engine = load_engine(copy, ServerConfig())
    request = pb.SearchRequest(image=jpeg, k=K)
    local: list[float] = []
    remote: list[float] = []
    bare: list[float] = []
    with grpc.insecure_channel(target) as channel, grpc.insecure_channel(echo) as echo_channel:
        stub = pb_grpc.LookalikeStub(channel)
        echo_stub = pb_grpc.LookalikeStub(echo_channel)
        for i in range(n + 20):
            for call, times in ((engine.search, local), (stub.Search, remote),
                                (echo_stub.Search, bare)):
                start = time.perf_counter()
                call(request)
                if i >= 20:  # the first calls warm both paths up
                    times.append(time.perf_counter() - start)
    engine.collection.close()
    seq = summary(remote)
    seq["per_s"] = round(n / sum(remote), 1)
    return summary(local), seq, summary(bare)


# The floor: a bare grpcio server in its own process that parses the same SearchRequest and
# answers a ready-made 10-neighbour SearchResponse, with no interceptors, auth or engine.
ECHO_SERVER = """
import sys
from concurrent import futures
import grpc
from lookalike.proto.v1 import lookalike_pb2 as pb
reply = pb.SearchResponse(cluster=3, neighbors=[
    pb.Neighbor(id=str(i), path=f"/images/{i}.png", distance=0.5, cluster=3) for i in range(10)])
handler = grpc.method_handlers_generic_handler("lookalike.v1.Lookalike", {
    "Search": grpc.unary_unary_rpc_method_handler(
        lambda request, context: reply,
        request_deserializer=pb.SearchRequest.FromString,
        response_serializer=pb.SearchResponse.SerializeToString)})
server = grpc.server(futures.ThreadPoolExecutor(32), options=[
    ("grpc.max_receive_message_length", 32 << 20)])
server.add_generic_rpc_handlers((handler,))
port = server.add_insecure_port("127.0.0.1:0")
server.start()
print(f"echo serving on 127.0.0.1:{port}", flush=True)
server.wait_for_termination()
"""


@contextmanager
def echo_served() -> Iterator[str]:
    """The bare grpcio server above in a subprocess; yields its target."""
    with _process([sys.executable, "-c", ECHO_SERVER]) as target:
        yield target


@contextmanager
def served(collection: Path, *flags: str) -> Iterator[str]:
    """A one-process `lookalike serve` subprocess on a free port; yields its target.

    One process, as before `--processes` existed, so these figures stay comparable with
    earlier runs; --processes compares process counts.
    """
    with _process([sys.executable, "-m", "lookalike.app.cli", "serve", str(collection),
                   "--port", "0", "--quiet", "--processes", "1", *flags]) as target:
        yield target


@contextmanager
def _process(command: list[str]) -> Iterator[str]:
    """A server subprocess that prints "... serving on HOST:PORT" once ready."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline() if process.stdout else ""
        if "serving on" not in line:
            raise RuntimeError(f"the server did not start: {line!r}")
        yield line.strip().rsplit(" ", 1)[-1]
    finally:
        process.terminate()
        process.wait(timeout=30)


def concurrent(target: str, jpeg: bytes, callers: int, seconds: float,
               own_connections: bool = False) -> dict[str, float]:
    """callers threads, each on its own channel, calling Search back to back for `seconds`.

    grpc gives every channel of a process to one target the same connection unless
    own_connections, which gives each caller one, as separate client processes have.
    """
    request = pb.SearchRequest(image=jpeg, k=K)
    times: list[float] = []
    lock = threading.Lock()
    start_gate = threading.Barrier(callers + 1)
    stop_at = [0.0]
    options = [("grpc.use_local_subchannel_pool", 1)] if own_connections else []

    def caller() -> None:
        mine = []
        with grpc.insecure_channel(target, options=options) as channel:
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


def sequential(targets: dict[int, str], jpeg: bytes, n: int) -> dict[int, dict]:
    """One caller, n calls to each server, alternated call by call."""
    request = pb.SearchRequest(image=jpeg, k=K)
    times: dict[int, list[float]] = {p: [] for p in targets}
    channels = {p: grpc.insecure_channel(t) for p, t in targets.items()}
    try:
        stubs = {p: pb_grpc.LookalikeStub(c) for p, c in channels.items()}
        for i in range(n + 10):
            for p, stub in stubs.items():
                start = time.perf_counter()
                stub.Search(request, timeout=30)
                if i >= 10:
                    times[p].append(time.perf_counter() - start)
    finally:
        for channel in channels.values():
            channel.close()
    out = {}
    for p, seconds in times.items():
        out[p] = summary(seconds)
        out[p]["per_s"] = round(n / sum(seconds), 1)
    return out


def memory_kib(pid: int) -> dict[str, int]:
    """RSS and PSS (KiB) of a process and its children, from /proc/PID/smaps_rollup."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        pids += [int(c) for c in children]
    totals = {"rss_kib": 0, "pss_kib": 0, "processes": len(pids)}
    for p in pids:
        for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("Rss", "Pss"):
                totals[f"{key.lower()}_kib"] += int(rest.split()[0])
    return totals


@contextmanager
def group_served(collection: Path, processes: int) -> Iterator[tuple[str, float, int]]:
    """`lookalike serve --processes N` on a private copy of the collection: yields
    (target, seconds until it served, the parent's pid)."""
    import shutil

    with tempfile.TemporaryDirectory(prefix=f"bench-p{processes}-") as tmp:
        copy = Path(tmp) / "collection"
        shutil.copytree(collection, copy, ignore=shutil.ignore_patterns("*.lock"))
        command = [sys.executable, "-m", "lookalike.app.cli", "serve", str(copy), "--port", "0",
                   "--quiet", "--processes", str(processes)]
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        try:
            line = process.stdout.readline() if process.stdout else ""
            if "serving on" not in line:
                raise RuntimeError(f"the server did not start: {line!r}")
            ready_s = time.perf_counter() - started
            yield line.strip().rsplit(" ", 1)[-1], ready_s, process.pid
        finally:
            process.terminate()
            process.wait(timeout=120)


def compare_processes(counts: list[int], callers: int, seconds: float, rounds: int,
                      n: int) -> dict:
    """The --processes mode: see the module docstring."""
    from contextlib import ExitStack

    collection = build_collection_once()
    jpeg = query_jpeg()
    with ExitStack() as stack:
        servers = {p: stack.enter_context(group_served(collection, p)) for p in counts}
        targets = {p: target for p, (target, _, _) in servers.items()}
        for target in targets.values():  # warm every worker's connection and batch shapes
            concurrent(target, jpeg, callers, 1.0, own_connections=True)
        seq: dict[int, list[dict]] = {p: [] for p in counts}
        conc: dict[int, list[dict]] = {p: [] for p in counts}
        for r in range(rounds):
            for p, figures in sequential(targets, jpeg, n).items():
                seq[p].append(figures)
            order = counts if r % 2 == 0 else counts[::-1]
            for p in order:
                conc[p].append(concurrent(targets[p], jpeg, callers, seconds,
                                          own_connections=True))
        memory = {p: memory_kib(pid) for p, (_, _, pid) in servers.items()}
    result: dict = {"machine": {"cpus": os.cpu_count()}, "collection_images": IMAGES,
                    "query": f"512x512 JPEG, {len(jpeg)} bytes", "k": K, "rounds": rounds}
    for p in counts:
        result[f"processes_{p}"] = {
            "startup_s": round(servers[p][1], 1),
            "memory_after": memory[p],
            "grpc_sequential": _medians(seq[p]),
            f"grpc_{callers}_callers": _medians(conc[p]),
            f"{callers}_callers_over_sequential": round(
                _median([c["per_s"] for c in conc[p]]) / _median([s["per_s"] for s in seq[p]]),
                2),
        }
    base = counts[0]
    for p in counts[1:]:
        result[f"processes_{p}_over_{base}"] = {
            "sequential_per_s": _ratio(seq, p, base),
            f"{callers}_callers_per_s": _ratio(conc, p, base),
            f"{callers}_callers_per_s_each_round": [
                round(a["per_s"] / b["per_s"], 2)
                for a, b in zip(conc[p], conc[base], strict=True)],
        }
    return result


def _median(values: list[float]) -> float:
    return float(np.median(values))


def _medians(runs: list[dict]) -> dict:
    return {key: round(_median([r[key] for r in runs]), 3) for key in runs[0]}


def _ratio(runs: dict[int, list[dict]], p: int, base: int) -> float:
    return round(_median([r["per_s"] for r in runs[p]])
                 / _median([r["per_s"] for r in runs[base]]), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls (a smoke run)")
    parser.add_argument("--callers", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--processes", help="compare `serve --processes N` for each N of a "
                        "comma-separated list, e.g. 1,2")
    parser.add_argument("--rounds", type=int, default=3, help="with --processes: rounds")
    args = parser.parse_args()
    if args.processes:
        counts = [int(p) for p in args.processes.split(",")]
        print(json.dumps(compare_processes(
            counts, args.callers, 1.0 if args.quick else args.seconds,
            1 if args.quick else args.rounds, 50 if args.quick else 300), indent=2))
        return
    from lookalike.server.runtime import limit_threads

    limit_threads(1, 1)  # as `lookalike serve` does, so the in-process baseline matches
    n = 100 if args.quick else 1000
    seconds = 1.0 if args.quick else args.seconds
    collection = build_collection_once()
    jpeg = query_jpeg()
    with served(collection) as target, echo_served() as echo:
        base, seq, floor = paired(collection, target, echo, jpeg, n)
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
        "bare_grpc_echo": floor,
        "grpc_overhead_p50_ms": round(seq["p50_ms"] - base["p50_ms"], 3),
        "bare_grpc_echo_p50_ms": floor["p50_ms"],
        "concurrent_over_sequential": round(conc["per_s"] / seq["per_s"], 2),
        "batched_over_unbatched": round(conc["per_s"] / unbatched["per_s"], 2),
    }, indent=2))


if __name__ == "__main__":
    main()
