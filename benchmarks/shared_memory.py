"""Resident memory of N processes serving one collection: mapped snapshot against private copies.

A 1M x 128-d collection (synthetic vectors straight through Collection.create) is opened by
N = 1, 2 and 8 worker processes at once, as `lookalike serve --processes N` does: each opens
it shared while this process holds the folder lock, like the group's parent. "shared": the
parent wrote DIR/vectors.snapshot first and the workers map it; "private": no snapshot, so
each worker loads its own copy from SQLite (what every process did before). Each worker runs
a few hundred searches before it is measured. RSS, PSS and private memory come from
/proc/PID/smaps_rollup; PSS splits each shared page among the processes mapping it, so the
sum of PSS is what the group really costs.

    .venv/bin/python benchmarks/shared_memory.py [--rows 1000000] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FIELDS = {"Rss": "rss", "Pss": "pss", "Private_Clean": "private", "Private_Dirty": "private"}


def worker(folder: str) -> None:
    """Opens the collection shared, searches, reports, and waits for stdin to close."""
    from lookalike.indexer.local.collection import Collection

    clock = time.perf_counter()
    collection = Collection.open(folder, shared=True)
    opened = time.perf_counter() - clock
    queries = np.random.default_rng(1).normal(size=(320, collection.dim)).astype(np.float32) * 3
    for q in queries[:256]:
        collection.search(q[None], 10)
    collection.search(queries[256:], 10)
    print(json.dumps({"open_s": round(opened, 2),
                      "mapped_rows": collection._clusters.mapped_rows()}), flush=True)
    sys.stdin.read()
    collection.close()


def memory_of(pid: int) -> dict[str, float]:
    """RSS, PSS and private (clean + dirty) MiB of a process, from smaps_rollup."""
    got = dict.fromkeys(FIELDS.values(), 0.0)
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in FIELDS:
            got[FIELDS[name]] += int(rest.split()[0]) / 1024  # kB
    return got


def run_group(folder: Path, n: int) -> dict:
    """Starts n workers at once, waits until each has opened and searched, measures them."""
    clock = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", str(folder)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for _ in range(n)]
    try:
        reports = [json.loads(p.stdout.readline()) for p in procs]
        ready_s = time.perf_counter() - clock
        memory = [memory_of(p.pid) for p in procs]
    finally:
        for p in procs:
            p.stdin.close()
        for p in procs:
            p.wait(60)
    total = {k: round(sum(m[k] for m in memory)) for k in ("rss", "pss", "private")}
    return {"processes": n, "all_ready_s": round(ready_s, 1),
            "open_s_max": max(r["open_s"] for r in reports),
            "mapped_rows": reports[0]["mapped_rows"],
            "per_process_mib": [{k: round(v) for k, v in m.items()} for m in memory],
            "total_rss_mib": total["rss"], "total_pss_mib": total["pss"],
            "total_private_mib": total["private"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--nlist", type=int, default=1000)
    parser.add_argument("--processes", default="1,2,8")
    parser.add_argument("--json", action="store_true", help="last line: one JSON object")
    parser.add_argument("--keep", type=Path,
                        help="build the collection here and keep it; reuse it if it exists")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    from shared_check import DIM, build

    from lookalike.indexer.local.snapshot import SNAPSHOT_FILE, write_snapshot
    from lookalike.indexer.lock import FolderLock

    counts = [int(n) for n in args.processes.split(",")]
    with tempfile.TemporaryDirectory(prefix="shared-memory-", dir=os.environ.get("TMPDIR")) as tmp:
        folder = (args.keep or Path(tmp)) / "c"
        clock = time.perf_counter()
        if not folder.exists():  # (--keep: built by an earlier run, with these --rows)
            build(folder, args.rows, args.nlist)
        result: dict = {"rows": args.rows, "dim": DIM, "nlist": args.nlist,
                        "vectors_mib": round(args.rows * DIM * 4 / 2**20),
                        "create_s": round(time.perf_counter() - clock, 1)}
        lock = FolderLock(folder)
        try:
            clock = time.perf_counter()
            write_snapshot(folder)
            result["write_snapshot_s"] = round(time.perf_counter() - clock, 1)
            result["snapshot_mib"] = round((folder / SNAPSHOT_FILE).stat().st_size / 2**20)
            result["sqlite_mib"] = round((folder / "collection.sqlite").stat().st_size / 2**20)
            for mode in ("shared", "private"):
                if mode == "private":
                    (folder / SNAPSHOT_FILE).unlink()
                for n in counts:
                    row = run_group(folder, n)
                    result[f"{mode}_n{n}"] = row
                    print(f"{mode:>7} N={n}: total RSS {row['total_rss_mib']} MiB, PSS "
                          f"{row['total_pss_mib']} MiB, private {row['total_private_mib']} MiB "
                          f"(mapped rows {row['mapped_rows']}, all ready in "
                          f"{row['all_ready_s']} s)", flush=True)
        finally:
            lock.close()
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
