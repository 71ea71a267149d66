"""Where a Milvus-mode search spends its time: the product's call against raw Milvus calls.

milvus_bench.py measures Milvus mode over gRPC at about 7-12x local mode on 100K images
(issue 15 asks for at most 2x). This splits one single-query search, in process, with no
lookalike server and no encoder in the way, on the same 100K vectors as milvus_bench.py:
- the local store's search (Faiss + SQLite) and the Milvus store's (MilvusCollection),
  both as the server calls them;
- the raw pymilvus search the Milvus store makes, at each consistency level, with the
  probe filter `cluster in [...]`, with only the centroid rows filtered out, and with no
  filter, with and without the path and cluster fields;
- a Milvus round trip that does no search (has_collection), the floor of any request.
Medians of --calls single queries, each variant's calls interleaved with the others'.

    .venv/bin/python benchmarks/milvus_profile.py [--images 100000] [--calls 200]
        [--tick-ms 10] [--milvus HOST:PORT]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from milvus_bench import NPROBE, milvus_uri, write_both  # noqa: E402
from server_bench import K  # noqa: E402

from lookalike.indexer.clustering import route  # noqa: E402
from lookalike.indexer.local.collection import Collection  # noqa: E402
from lookalike.indexer.milvus.address import MilvusAddress  # noqa: E402
from lookalike.indexer.milvus.collection import MilvusCollection  # noqa: E402


def interleaved(variants: dict[str, Callable[[int], object]], calls: int) -> dict[str, dict]:
    """p50 / p90 in ms of each variant, called for query i in turn with the others."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    for i in range(5):
        for run in variants.values():
            run(i)
    for i in range(calls):
        for name, run in variants.items():
            t0 = time.perf_counter()
            run(i)
            times[name].append(time.perf_counter() - t0)
    return {name: {"p50_ms": round(float(np.median(t)) * 1000, 2),
                   "p90_ms": round(float(np.percentile(t, 90)) * 1000, 2)}
            for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--tick-ms", type=int, default=10,
                        help="the embedded server's proxy.timeTickInterval (Milvus: 200)")
    parser.add_argument("--milvus", help="HOST:PORT of a running Milvus (default: start one)")
    args = parser.parse_args()
    with ExitStack() as stack:
        uri = milvus_uri(stack, args.milvus, args.tick_ms)
        address = MilvusAddress.parse(f"milvus://{uri}/profile{os.getpid()}")
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="milvus-prof-")))
        local_dir, milvus_dir, timings = write_both(work, args.images, address)
        local = stack.enter_context(Collection.open(local_dir, read_only=True))
        milvus = stack.enter_context(MilvusCollection.open(milvus_dir, read_only=True))
        rng = np.random.default_rng(1)
        queries = rng.normal(size=(args.calls + 5, local.dim)).astype(np.float32)
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        generation = milvus.generation()
        probes = route(queries, generation.quantizer, NPROBE)
        client, name = milvus.vectors.client, generation.name

        def raw(level: str, where: str | None, fields: list[str]) -> Callable[[int], object]:
            def run(i: int) -> object:
                expr = f"cluster in {sorted(probes[i].tolist())}" if where == "probe" else where
                return client.search(name, data=[queries[i].tolist()], limit=K,
                                     filter=expr or "", output_fields=fields,
                                     search_params={"metric_type": "L2"},
                                     consistency_level=level)
            return run

        variants: dict[str, Callable[[int], object]] = {
            "local_store_search": lambda i: local.search(queries[i:i + 1], K),
            "milvus_store_search": lambda i: milvus.search(queries[i:i + 1], K),
            "milvus_round_trip_no_search": lambda i: client.has_collection(name),
        }
        for level in ("Strong", "Bounded", "Eventually"):
            variants[f"raw_{level}_probe_filter_fields"] = raw(level, "probe", ["path", "cluster"])
            variants[f"raw_{level}_probe_filter"] = raw(level, "probe", [])
            variants[f"raw_{level}_images_only"] = raw(level, "cluster >= 0", [])
            variants[f"raw_{level}_no_filter"] = raw(level, None, [])
        results = interleaved(variants, args.calls)
    print(json.dumps({
        "machine": {"cpus": os.cpu_count(), "load_after": os.getloadavg()[0]},
        "images": args.images, "default_nprobe": NPROBE, "k": K, "calls": args.calls,
        "milvus": {"server": "embedded 2.3.5" if args.milvus is None else args.milvus,
                   "tick_ms": args.tick_ms if args.milvus is None else None},
        **timings, "single_query": results,
        "milvus_over_local_p50": round(results["milvus_store_search"]["p50_ms"]
                                       / results["local_store_search"]["p50_ms"], 1),
    }, indent=2))


if __name__ == "__main__":
    main()
