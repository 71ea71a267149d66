"""The cost of a shared open's per-call "did another process write?" check, and of catching up.

A shared open (Collection.open(folder, shared=True), one per worker of a server group) checks
before every search whether the group published a newer change-log entry (and, once a
second, SQLite's PRAGMA data_version); a plain open does not. Both are opened on
the same folder in this process (the plain open holds the folder lock, as a group's parent
does) and timed on the same queries, in alternating ABBA blocks so load on this shared
machine hits both alike. Also timed: the PRAGMA alone, and the first search after another
connection added or deleted rows (the check, reading the log and applying it), and what
writing the change log adds to a plain open's add and delete (fsync included).

    .venv/bin/python benchmarks/shared_check.py [--rows 100000] [--json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from lookalike.indexer.local.collection import Collection
from lookalike.indexer.manifest import Manifest

DIM = 128
K = 10


def mixture(n: int, seed: int, centres: int = 512) -> np.ndarray:
    """Points around random centres, generated in chunks so memory stays ~1x the output."""
    rng = np.random.default_rng(seed)
    middle = rng.normal(size=(centres, DIM)).astype(np.float32) * 3
    out = np.empty((n, DIM), np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        out[start : start + m] = middle[rng.integers(0, centres, m)]
        out[start : start + m] += rng.standard_normal((m, DIM), np.float32)
    return out


def build(folder: Path, rows: int, nlist: int, seed: int = 0) -> np.ndarray:
    """A collection of rows mixture vectors, straight through Collection.create (centroids
    are sampled rows: routing quality does not matter here); returns 512 held-out queries."""
    from flax import nnx

    from lookalike.encoder import checkpoint
    from lookalike.encoder.model import Autoencoder, ModelConfig

    vectors = mixture(rows + 512, seed)
    centroids = vectors[np.random.default_rng(seed).choice(rows, nlist, replace=False)]
    model = folder.parent / "model"
    config = ModelConfig(embed_dim=DIM)
    fingerprint = checkpoint.save(checkpoint.Checkpoint(Autoencoder(config, nnx.Rngs(0)), config),
                                  model)
    Collection.create(folder, model, Manifest(fingerprint, DIM, 64), vectors[:rows],
                      [f"/img/{i}.png" for i in range(rows)], [None] * rows, centroids, 4).close()
    return vectors[rows:].copy()


def per_call(plain: Collection, shared: Collection, queries: np.ndarray, rounds: int) -> dict:
    """Median single-query and batch-64 search latency (rows read too) of both opens."""
    opens = {"plain": plain, "shared": shared}
    got: dict[str, list[float]] = {f"{o}_{s}": [] for o in opens for s in ("single", "batch")}
    blocks = [[q[None] for q in queries[i : i + 32]] for i in range(0, len(queries), 32)]
    blocks += [[queries[i : i + 64]] for i in range(0, len(queries) - 63, 64)]
    for turn in range(rounds * len(blocks)):
        block = blocks[turn % len(blocks)]
        kind = "batch" if len(block[0]) > 1 else "single"
        for name in (("plain", "shared") if turn % 2 == 0 else ("shared", "plain")):
            for q in block:
                start = time.perf_counter()
                opens[name].search(q, K)
                got[f"{name}_{kind}"].append(time.perf_counter() - start)
    med = {name: float(np.median(v)) * 1e6 for name, v in got.items()}
    return {"plain_single_us": round(med["plain_single"], 1),
            "shared_single_us": round(med["shared_single"], 1),
            "check_single_us": round(med["shared_single"] - med["plain_single"], 1),
            "plain_batch64_us": round(med["plain_batch"], 1),
            "shared_batch64_us": round(med["shared_batch"], 1),
            "check_batch64_us": round(med["shared_batch"] - med["plain_batch"], 1)}


def alone(fn, n: int = 50_000) -> float:
    """Mean microseconds per call of fn."""
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return round((time.perf_counter() - start) / n * 1e6, 3)


def catch_up(reader: Collection, writer: Collection, queries: np.ndarray, batch: int,
             repeats: int = 20) -> dict:
    """Median time of the reader's first search after the writer adds, then deletes, batch
    rows: the check, the log read and the in-memory change, all inside that search."""
    add, delete = [], []
    for r in range(repeats):
        ids = [f"c{batch}-{r}-{i}" for i in range(batch)]
        writer.add(queries[:batch] + 0.01 * r, ["/x.png"] * batch, ids)
        start = time.perf_counter()
        reader.search(queries[:1], K)
        add.append(time.perf_counter() - start)
        writer.delete(ids)
        start = time.perf_counter()
        reader.search(queries[:1], K)
        delete.append(time.perf_counter() - start)
    return {"rows": batch, "first_search_after_add_ms": round(float(np.median(add)) * 1e3, 3),
            "first_search_after_delete_ms": round(float(np.median(delete)) * 1e3, 3)}


def log_cost(plain: Collection, queries: np.ndarray, repeats: int = 30) -> list[dict]:
    """Median add and delete latency of a plain open with the change log written (as every
    writable open now does) and without it (as before), alternating, same rows."""
    rows = []
    for batch in (1, 100):
        got: dict[str, list[float]] = {f"{w}_{op}": [] for w in ("log", "nolog")
                                       for op in ("add", "delete")}
        for r in range(repeats):
            for which in (("log", "nolog") if r % 2 == 0 else ("nolog", "log")):
                plain.store._logging = which == "log"
                ids = [f"{which}{batch}-{r}-{i}" for i in range(batch)]
                start = time.perf_counter()
                plain.add(queries[:batch], ["/l.png"] * batch, ids)
                got[f"{which}_add"].append(time.perf_counter() - start)
                start = time.perf_counter()
                plain.delete(ids)
                got[f"{which}_delete"].append(time.perf_counter() - start)
        plain.store._logging = True
        rows.append({"rows": batch, **{f"{k}_ms": round(float(np.median(v)) * 1e3, 3)
                                       for k, v in got.items()}})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--nlist", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--json", action="store_true", help="last line: one JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="shared-check-") as tmp:
        folder = Path(tmp) / "c"
        queries = build(folder, args.rows, args.nlist)
        with Collection.open(folder) as plain, Collection.open(folder, shared=True) as shared, \
                Collection.open(folder, shared=True) as writer:
            per = per_call(plain, shared, queries, args.rounds)
            result = {"rows": args.rows, "dim": DIM, "nlist": args.nlist, "k": K,
                      "default_nprobe": 4, **per,
                      "follow_nothing_new_us": alone(shared.follow),
                      "pragma_data_version_us": alone(shared.store.data_version),
                      "catch_up": [catch_up(shared, writer, queries, b) for b in (1, 100)],
                      "change_log_write_cost": log_cost(plain, queries)}
    print(f"search p50, plain vs shared open: single {per['plain_single_us']} vs "
          f"{per['shared_single_us']} us, batch64 {per['plain_batch64_us']} vs "
          f"{per['shared_batch64_us']} us; the check alone {result['follow_nothing_new_us']} us "
          f"(PRAGMA data_version: {result['pragma_data_version_us']} us)")
    for row in result["catch_up"]:
        print(f"first search after another process adds/deletes {row['rows']} rows: "
              f"{row['first_search_after_add_ms']} / {row['first_search_after_delete_ms']} ms")
    for row in result["change_log_write_cost"]:
        print(f"plain add/delete of {row['rows']} rows, with the change log vs without: "
              f"{row['log_add_ms']} vs {row['nolog_add_ms']} ms / {row['log_delete_ms']} vs "
              f"{row['nolog_delete_ms']} ms")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
