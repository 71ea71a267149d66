"""Filtered search, labelling and browsing on a local collection of 100K vectors (issue 25).

A Gaussian mixture (index_bench.py's, d=256, nlist 316, the default nprobe chosen as the
build chooses it) becomes a real collection. Labels matching 50%, 10%, 1% and 0.1% of it
are attached, each both spread at random and concentrated in few clusters (whole clusters,
nearest first to a random one, as a real label is). For each label: recall@10 of the
filtered search against an exact search over the matching images, whether every answer was
a full k, and the p50 latency of single filtered queries against unfiltered ones, timed in
alternating blocks (ABBA) in the same run. Then: labelling every member of a 5,000-member
cluster (its own 20K-vector, 4-cluster collection) with one Update, and paging through all
100K rows with Browse (1,000 a page, labels and attributes included: what an export reads).

    nice -n 5 .venv/bin/python benchmarks/filter_bench.py [--queries 200] [--json OUT]
    nice -n 5 .venv/bin/python benchmarks/filter_bench.py --milvus [--n 20000 --nlist 141]

--milvus: the same table with the images in a real Milvus server (benchmarks/filter_milvus.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from index_bench import DIM, mixture, save_tiny_model  # noqa: E402

from lookalike.common.filters import Filter  # noqa: E402
from lookalike.common.labels import Change  # noqa: E402
from lookalike.indexer.clustering import choose_nprobe, fit_kmeans  # noqa: E402
from lookalike.indexer.interface import Target  # noqa: E402
from lookalike.indexer.local.collection import Collection  # noqa: E402
from lookalike.indexer.manifest import Manifest  # noqa: E402

K = 10
SHARES = (0.5, 0.1, 0.01, 0.001)


def prepare(work: Path, n: int, nlist: int, seed: int
            ) -> tuple[np.ndarray, np.ndarray, int, Path, Manifest]:
    """The vectors, their centroids and default nprobe, a model folder and a manifest: what
    either store's build of the benchmark collection needs."""
    vectors = mixture(n, 2 * nlist, seed)
    centroids, _ = fit_kmeans(vectors, nlist, seed)
    nprobe = choose_nprobe(vectors, centroids)
    model = work / "model"
    if not model.exists():
        save_tiny_model(model)
    manifest = Manifest(json.loads((model / "model.json").read_text())["fingerprint"], DIM, 64)
    return vectors, centroids, nprobe, model, manifest


def build(work: Path, n: int, nlist: int, seed: int) -> tuple[Collection, np.ndarray]:
    vectors, centroids, nprobe, model, manifest = prepare(work, n, nlist, seed)
    folder = work / f"c{n}-{nlist}"
    Collection.create(folder, model, manifest, vectors, [f"/img/{i}.png" for i in range(n)],
                      [None] * n, centroids, nprobe).close()
    return Collection.open(folder), vectors


def choose_rows(c: Collection, share: float, placement: str, rng: np.random.Generator,
                ) -> np.ndarray:
    """Row numbers of a label: a random share, or whole clusters nearest a random one."""
    rows = np.array([r.rowid for r in c.rows()])
    want = max(1, round(share * len(rows)))
    if placement == "spread":
        return np.sort(rng.choice(rows, want, replace=False))
    start = c.centroids[rng.integers(c.nlist)][None]
    order = c._clusters.quantizer.search(start, c.nlist)[1][0]
    members = np.concatenate([c._clusters.rows[k][:-1] for k in order])
    return np.sort(members[:want])


def time_blocks(c: Collection, queries: np.ndarray, f: Filter) -> dict[str, float]:
    """p50 ms of single filtered and unfiltered queries, in alternating blocks of 10: wall
    time, and this thread's CPU time (steadier on a shared machine, where a preempted query
    counts the other processes' time as its own)."""
    wall: dict[bool, list[float]] = {True: [], False: []}
    cpu: dict[bool, list[float]] = {True: [], False: []}
    for i, start in enumerate(range(0, len(queries), 10)):
        block = queries[start : start + 10]
        for filtered in ((True, False) if i % 2 == 0 else (False, True)):
            for q in block:
                clock, used = time.perf_counter(), time.thread_time()
                c.search(q[None], K, filter=f if filtered else None)
                cpu[filtered].append(time.thread_time() - used)
                wall[filtered].append(time.perf_counter() - clock)
    p50 = {f"{name}_{'filtered' if key else 'unfiltered'}_ms":
           round(float(np.median(got[key])) * 1e3, 3)
           for name, got in (("wall", wall), ("cpu", cpu)) for key in (True, False)}
    p50["ratio_wall"] = round(p50["wall_filtered_ms"] / p50["wall_unfiltered_ms"], 2)
    p50["ratio_cpu"] = round(p50["cpu_filtered_ms"] / p50["cpu_unfiltered_ms"], 2)
    return p50


def measure_label(c: Collection, vectors: np.ndarray, queries: np.ndarray, name: str,
                  rows: np.ndarray) -> dict:
    clock = time.perf_counter()
    c.update(Target(ids=tuple(map(str, rows.tolist()))), Change.checked(add_labels=[name]))
    label_s = time.perf_counter() - clock
    f = Filter.checked(all_of=[name])
    hits = c.search(queries, K, filter=f)
    chosen = vectors[rows - 1]  # row numbers start at 1
    recalls, full = [], True
    for q, row in zip(queries, hits.rowids, strict=True):
        exact = rows[np.argsort(((chosen - q) ** 2).sum(1), kind="stable")[:K]]
        # By id, the row number as text: the Milvus mode gives its images the same ids.
        found = [int(hits.rows[r].id) for r in row if r >= 0]
        full &= len(found) == min(K, len(rows))
        recalls.append(len(set(found) & set(exact.tolist())) / len(exact))
    c.search(queries[:5], K, filter=f)  # warm the filter's cached selection
    return {"label": name, "matches": len(rows), "recall_at_10": round(float(np.mean(recalls)), 4),
            "full_k": bool(full), **time_blocks(c, queries, f), "update_s": round(label_s, 3)}


def label_a_cluster(work: Path, seed: int) -> dict:
    """One Update labelling the cluster nearest 5,000 members of a 20K-vector, 4-cluster
    collection."""
    c, _ = build(work, 20_000, 4, seed)
    sizes = c.cluster_sizes()
    big = int(np.argmin(np.abs(np.array(sizes) - 5000)))  # the cluster nearest 5,000
    clock, used = time.perf_counter(), time.process_time()
    done = c.update(Target(cluster=big), Change.checked(add_labels=["cats"],
                                                        set_attributes=[("checked", 1.0)]))
    seconds, cpu = time.perf_counter() - clock, time.process_time() - used
    c.close()
    return {"cluster_size": sizes[big], "updated": done.updated, "seconds": round(seconds, 3),
            "cpu_s": round(cpu, 3)}


def browse_all(c: Collection) -> dict:
    clock, used, token, n = time.perf_counter(), time.process_time(), "", 0
    while True:
        page = c.browse(None, 1000, token)
        n += len(page.items)
        token = page.next_token
        if not token:
            break
    return {"rows": n, "seconds": round(time.perf_counter() - clock, 2),
            "cpu_s": round(time.process_time() - used, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--nlist", type=int, default=316)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--milvus", action="store_true", help="in a real Milvus server")
    parser.add_argument("--milvus-uri", help="HOST:PORT of one (default: start the embedded "
                        "2.3.5 server)")
    args = parser.parse_args()
    if args.milvus:
        from filter_milvus import run

        with tempfile.TemporaryDirectory(prefix="filter-bench-") as tmp:
            result = run(Path(tmp), args.milvus_uri, args.n, args.nlist, args.queries)
        print(json.dumps({k: v for k, v in result.items() if k != "labels"}))
        if args.json:
            args.json.write_text(json.dumps(result, indent=1) + "\n")
        return
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="filter-bench-") as tmp:
        clock = time.perf_counter()
        c, vectors = build(Path(tmp), args.n, args.nlist, 0)
        queries = mixture(args.queries, 2 * args.nlist, 0) + rng.normal(
            0, 0.05, (args.queries, DIM)).astype(np.float32)
        result: dict = {"n": args.n, "d": DIM, "nlist": c.nlist, "default_nprobe":
                        c.default_nprobe, "build_s": round(time.perf_counter() - clock, 1),
                        "labels": []}
        for placement in ("spread", "clustered"):
            for share in SHARES:
                name = f"{placement}-{share:g}"
                row = measure_label(c, vectors, queries, name, choose_rows(c, share, placement,
                                                                           rng))
                result["labels"].append(row)
                print(json.dumps(row), flush=True)
        result["browse_all"] = browse_all(c)
        c.close()
        result["label_cluster"] = label_a_cluster(Path(tmp), 0)
    print(json.dumps({k: v for k, v in result.items() if k != "labels"}))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
