"""Per-cluster search (Collection.scan) against faiss.IndexIVFFlat with the same centroids.

Collection.scan is Collection.search without reading the hits' rows from SQLite, so both
sides do the same work: route, scan, merge.

For each configuration: a synthetic Gaussian mixture (N vectors, d=256) becomes a real
collection (SQLite + per-cluster flat indexes, a tiny real model checkpoint); then single
queries and batches of 64 are timed for both, interleaved in ABBA order so drift in a shared
CPU hits both alike. Also: recall@10 against exact search, create/open time, resident memory
of a freshly opened collection (measured in a child process) and, with --auto-k, the cost of
choosing k by silhouette.

    .venv/bin/python benchmarks/index_bench.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from testbed import recall_at_k  # noqa: E402

from lookalike.indexer.clustering import choose_k, choose_nprobe, fit_kmeans  # noqa: E402
from lookalike.indexer.local.collection import Collection  # noqa: E402
from lookalike.indexer.manifest import Manifest  # noqa: E402

DIM = 256
K = 10


def mixture(n: int, centres: int, seed: int, noise: float = 1.05) -> np.ndarray:
    """Points around random centres, with per-centre spread, generated in chunks."""
    rng = np.random.default_rng(seed)
    middle = rng.normal(size=(centres, DIM)).astype(np.float32)
    spread = rng.uniform(0.5, 1.5, centres).astype(np.float32) * noise
    out = np.empty((n, DIM), np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        label = rng.integers(0, centres, m)
        out[start : start + m] = middle[label] + rng.standard_normal((m, DIM), np.float32) * (
            spread[label, None])
    return out


def save_tiny_model(folder: Path) -> str:
    from flax import nnx

    from lookalike.encoder import checkpoint
    from lookalike.encoder.model import Autoencoder, ModelConfig

    config = ModelConfig(embed_dim=DIM)
    return checkpoint.save(checkpoint.Checkpoint(Autoencoder(config, nnx.Rngs(0)), config), folder)


def rss_of_opened(folder: Path) -> dict:
    """Opens the collection in a fresh process and reports its resident memory and open time."""
    code = ("import json,sys,time,psutil;from lookalike.indexer.local.collection import Collection;"
            "t=time.perf_counter();c=Collection.open(sys.argv[1]);t=time.perf_counter()-t;"
            "print(json.dumps({'open_s':round(t,2),'rss_gib':round(psutil.Process().memory_info()"
            ".rss/2**30,3),'count':len(c)}))")
    out = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


_FLUSH = np.ones(96 << 18, np.float32)  # 96 MiB: more than the last-level cache


def cold(fn, items) -> list[float]:
    """Latency of fn on each item, after evicting the caches, so the method that runs
    second on the same queries does not find their clusters already cached."""
    float(_FLUSH.sum())
    times = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        times.append(time.perf_counter() - start)
    return times


def compare(collection: Collection, ivf, queries: np.ndarray, nprobe: int, rounds: int) -> dict:
    """Median latency of ours and IVFFlat, single and batch-64.

    Blocks of 16 single queries (or one batch of 64) alternate between the two in ABBA
    order, each after a cache flush: a burst of load from other work on this shared
    machine then hits both alike, and neither gets the other's warm cache.
    """
    ivf.nprobe = nprobe
    methods = {"ours": lambda q: collection.scan(q, K, nprobe), "ivf": lambda q: ivf.search(q, K)}
    singles = [q[None] for q in queries]
    blocks = [singles[i : i + 16] for i in range(0, len(singles), 16)]
    blocks += [[queries[i : i + 64]] for i in range(0, len(queries) - 63, 64)]
    got: dict[str, list[float]] = {f"{w}_{m}": [] for w in methods for m in ("single", "batch")}
    turn = 0
    for _ in range(rounds):
        for block in blocks:
            kind = "batch" if len(block[0]) > 1 else "single"
            names = ["ours", "ivf"] if turn % 2 == 0 else ["ivf", "ours"]
            turn += 1
            for name in names:
                got[f"{name}_{kind}"] += cold(methods[name], block)
    med = {name: float(np.median(v)) * 1e3 for name, v in got.items()}
    return {
        "ours_single_ms": round(med["ours_single"], 4),
        "ivf_single_ms": round(med["ivf_single"], 4),
        "ours_batch64_ms": round(med["ours_batch"], 3),
        "ivf_batch64_ms": round(med["ivf_batch"], 3),
        "ratio_single": round(med["ours_single"] / med["ivf_single"], 3),
        "ratio_batch64": round(med["ours_batch"] / med["ivf_batch"], 3),
    }


def run_config(n: int, nlist: int, queries_n: int, rounds: int, work: Path, seed: int) -> dict:
    clock = time.perf_counter()
    vectors = mixture(n, 2 * nlist, seed)
    queries = mixture(queries_n, 2 * nlist, seed)[: queries_n]  # same centres, new draws
    queries = queries + np.random.default_rng(seed + 1).normal(
        0, 0.05, queries.shape).astype(np.float32)
    centroids, _ = fit_kmeans(vectors, nlist, seed)
    kmeans_s = time.perf_counter() - clock
    clock = time.perf_counter()
    nprobe = choose_nprobe(vectors, centroids)
    nprobe_s = time.perf_counter() - clock
    model = work / "model"
    manifest = Manifest(save_tiny_model(model), DIM, 64)
    clock = time.perf_counter()
    folder = work / f"c{n}"
    Collection.create(folder, model, manifest, vectors, [f"/img/{i}.png" for i in range(n)],
                      [None] * n, centroids, nprobe).close()
    create_s = time.perf_counter() - clock
    opened = rss_of_opened(folder)
    collection = Collection.open(folder)
    quantizer = faiss.IndexFlatL2(DIM)
    quantizer.add(collection.centroids)
    ivf = faiss.IndexIVFFlat(quantizer, DIM, nlist)
    ivf.is_trained = True
    ivf.add(vectors)
    exact = faiss.IndexFlatL2(DIM)
    exact.add(vectors)
    _, truth = exact.search(queries, K)
    del exact
    rows = {}
    for probe in sorted({nprobe, min(nlist, 2 * nprobe)}):
        ivf.nprobe = probe
        rows[probe] = compare(collection, ivf, queries, probe, rounds)
        # Row numbers start at 1, positions in `vectors` at 0.
        rows[probe]["recall_ours"] = round(recall_at_k(
            collection.scan(queries, K, probe).rowids - 1, truth), 4)
        rows[probe]["recall_ivf"] = round(recall_at_k(ivf.search(queries, K)[1], truth), 4)
    collection.close()
    return {"n": n, "d": DIM, "nlist": nlist, "default_nprobe": nprobe,
            "kmeans_s": round(kmeans_s, 1), "choose_nprobe_s": round(nprobe_s, 1),
            "create_s": round(create_s, 1), **opened, "by_nprobe": rows}


def auto_k_cost(n: int, seed: int) -> dict:
    vectors = mixture(n, 200, seed)
    clock = time.perf_counter()
    choice = choose_k(vectors, seed)
    return {"n": n, "seconds": round(time.perf_counter() - clock, 1), "k": choice.k,
            "candidates": choice.candidates}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100K only, fewer queries")
    parser.add_argument("--json", action="store_true", help="last line: one JSON object")
    parser.add_argument("--auto-k", action="store_true", help="also time --clusters auto at 100K")
    args = parser.parse_args()
    faiss.omp_set_num_threads(faiss.omp_get_max_threads())
    configs = [(100_000, 256)] if args.quick else [(100_000, 256), (1_000_000, 1000)]
    queries_n, rounds = (256, 4) if args.quick else (512, 6)
    results = []
    with tempfile.TemporaryDirectory(prefix="index-bench-") as tmp:
        for n, nlist in configs:
            work = Path(tmp) / str(n)
            work.mkdir()
            result = run_config(n, nlist, queries_n, rounds, work, seed=0)
            results.append(result)
            for probe, row in result["by_nprobe"].items():
                print(f"N={n:>9,} d={DIM} nlist={nlist:>4} nprobe={probe:>3}  "
                      f"single ours {row['ours_single_ms']:.3f} ms ivf {row['ivf_single_ms']:.3f}"
                      f" ms (x{row['ratio_single']:.3f})  batch64 ours {row['ours_batch64_ms']:.2f}"
                      f" ms ivf {row['ivf_batch64_ms']:.2f} ms (x{row['ratio_batch64']:.3f})  "
                      f"recall@10 ours {row['recall_ours']:.3f} ivf {row['recall_ivf']:.3f}")
            print(f"  create {result['create_s']}s, open {result['open_s']}s, "
                  f"RSS after open {result['rss_gib']} GiB, kmeans {result['kmeans_s']}s, "
                  f"choose nprobe {result['choose_nprobe_s']}s", flush=True)
    summary = {
        "configs": results,
        "max_ratio_vs_ivfflat": max(max(r["ratio_single"], r["ratio_batch64"])
                                    for c in results for r in c["by_nprobe"].values()),
        "recall_at_10_default_nprobe": min(c["by_nprobe"][c["default_nprobe"]]["recall_ours"]
                                           for c in results),
        "ivf_recall_at_10_default_nprobe": min(
            c["by_nprobe"][c["default_nprobe"]]["recall_ivf"] for c in results),
    }
    if args.auto_k:
        summary["auto_k"] = auto_k_cost(100_000, 0)
        print(f"auto k at 100K: {summary['auto_k']}")
    print(f"max ratio vs IVFFlat {summary['max_ratio_vs_ivfflat']}, recall@10 at default nprobe "
          f"{summary['recall_at_10_default_nprobe']}")
    if args.json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
