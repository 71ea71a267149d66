"""filter_bench.py's table in Milvus mode: the same labels, queries and measures, with the
images in a real Milvus server (the `milvus` package's embedded 2.3.5, started here unless
--milvus-uri names one). Called by `filter_bench.py --milvus`."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

import numpy as np
from filter_bench import browse_all, measure_label, prepare
from index_bench import DIM, mixture

from lookalike.common.labels import Change
from lookalike.indexer.clustering import assign
from lookalike.indexer.interface import Target
from lookalike.indexer.milvus.address import MilvusAddress
from lookalike.indexer.milvus.collection import MilvusCollection
from lookalike.indexer.milvus.folder import create_milvus_collection

K = 10
SHARES = (0.5, 0.1, 0.01, 0.001)


def build(work: Path, uri: str, n: int, nlist: int, seed: int, name: str
          ) -> tuple[MilvusCollection, np.ndarray, np.ndarray]:
    """(collection, vectors, each vector's cluster); image i has the id str(i + 1), as
    the local mode's row numbers (filter_bench.measure_label reads them)."""
    vectors, centroids, nprobe, model, manifest = prepare(work, n, nlist, seed)
    folder = work / name
    create_milvus_collection(folder, model, manifest, vectors,
                             [f"/img/{i}.png" for i in range(n)], [str(i + 1) for i in range(n)],
                             centroids, nprobe, MilvusAddress.parse(f"milvus://{uri}/{name}"))
    return MilvusCollection.open(folder), vectors, assign(vectors, centroids)


def choose_rows(c: MilvusCollection, clusters: np.ndarray, share: float, placement: str,
                rng: np.random.Generator) -> np.ndarray:
    want = max(1, round(share * len(clusters)))
    if placement == "spread":
        return np.sort(rng.choice(len(clusters), want, replace=False)) + 1
    start = c.centroids[rng.integers(c.nlist)][None]
    order = np.argsort(((c.centroids - start) ** 2).sum(1))
    members = np.concatenate([np.flatnonzero(clusters == k) for k in order])
    return np.sort(members[:want]) + 1


def label_a_cluster(work: Path, uri: str, seed: int) -> dict:
    c, _, _ = build(work, uri, 20_000, 4, seed, "cluster4")
    sizes = c.cluster_sizes()
    big = int(np.argmin(np.abs(np.array(sizes) - 5000)))  # the cluster nearest 5,000
    clock = time.perf_counter()
    done = c.update(Target(cluster=big), Change.checked(add_labels=["cats"],
                                                        set_attributes=[("checked", 1.0)]))
    seconds = time.perf_counter() - clock
    c.close()
    return {"cluster_size": sizes[big], "updated": done.updated, "seconds": round(seconds, 3)}


@contextlib.contextmanager
def milvus(uri: str | None):
    if uri:
        yield uri
        return
    from milvus_server import milvus_server

    with milvus_server() as server:
        yield f"127.0.0.1:{server.listen_port}"


def run(work: Path, uri: str | None, n: int, nlist: int, queries_n: int) -> dict:
    rng = np.random.default_rng(0)
    with milvus(uri) as where:
        clock = time.perf_counter()
        c, vectors, clusters = build(work, where, n, nlist, 0, f"filter{n}")
        queries = mixture(queries_n, 2 * nlist, 0) + rng.normal(
            0, 0.05, (queries_n, DIM)).astype(np.float32)
        result: dict = {"store": "milvus 2.3.5 (embedded)", "n": n, "d": DIM, "nlist": c.nlist,
                        "default_nprobe": c.default_nprobe,
                        "build_s": round(time.perf_counter() - clock, 1), "labels": []}
        for placement in ("spread", "clustered"):
            for share in SHARES:
                row = measure_label(c, vectors, queries, f"{placement}-{share:g}",
                                    choose_rows(c, clusters, share, placement, rng))
                result["labels"].append(row)
                print(json.dumps(row), flush=True)
        result["browse_all"] = browse_all(c)
        clock = time.perf_counter()
        result["label_counts"] = {"labels": len(c.label_counts()),
                                  "seconds": round(time.perf_counter() - clock, 2)}
        c.close()
        result["label_cluster"] = label_a_cluster(work, where, 0)
    return result
