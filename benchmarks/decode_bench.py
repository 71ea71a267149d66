"""Decode on every core: `lookalike build`'s decode and `lookalike bulk`'s client-side
downsize, one process against a thread pool and a process pool, in the same run.

Generates N 512x512 JPEGs (as bulk_bench.py does) and times, alternating the variants
within each repeat:
  - decode: what a build does per image (read, decode at 64x64): serially; in a pool of
    threads (the build's decoder before issue 16); in processes (lookalike.common.pool,
    what load_images does now);
  - downsize: what bulk does per row before sending (read, decode, re-encode 64x64 BMP),
    the same three ways.
  - control: SHA-256 of 256 KB per item (hashlib releases the GIL), the same three ways:
    how much parallelism the machine has to give right now, since other jobs on a shared
    machine take cores from the pools.
Prints one JSON object: images/s (median of --repeats) and the parent process's CPU ms per
image (a process pool's cost to the process that feeds it), with the load average.

    .venv/bin/python benchmarks/decode_bench.py --images 2000 --repeats 3
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bulk_bench import make_jpegs  # noqa: E402

from lookalike.clients.prefetch import downsized  # noqa: E402
from lookalike.common.fetch import FetchLimits  # noqa: E402
from lookalike.common.pool import default_workers, ordered_map  # noqa: E402
from lookalike.encoder.data import try_load_image  # noqa: E402

Run = Callable[[Callable[[str], object], list[str]], Iterable[object]]
BLOCK = bytes(range(256)) * 1024  # 256 KB


def hash_block(path: str) -> bytes:
    """A GIL-free unit of work about as long as one decode: the control."""
    return hashlib.sha256(BLOCK + path.encode()).digest()


def variants(workers: int) -> dict[str, Run]:
    def threads(fn, paths):
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(fn, paths))

    return {
        "serial": lambda fn, paths: [fn(p) for p in paths],
        f"threads_{workers}": threads,
        f"processes_{workers}": lambda fn, paths: list(ordered_map(fn, paths, workers=workers)),
    }


def timed(run: Run, fn: Callable[[str], object], paths: list[str]) -> tuple[float, float]:
    """(images/s, parent CPU ms per image) of one run."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = list(run(fn, paths))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert len(out) == len(paths)
    return len(paths) / wall, cpu * 1000 / len(paths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=default_workers())
    args = parser.parse_args()
    steps = {"decode": partial(try_load_image, size=64),
             "downsize": partial(downsized, size=64, limits=FetchLimits()),
             "control": hash_block}
    with tempfile.TemporaryDirectory() as tmp:
        paths = [str(p) for p in make_jpegs(Path(tmp) / "jpegs", args.images)]
        load_before = os.getloadavg()[0]
        got: dict[str, dict[str, list[tuple[float, float]]]] = {s: {} for s in steps}
        for _ in range(args.repeats):
            for step, fn in steps.items():
                for name, run in variants(args.workers).items():
                    got[step].setdefault(name, []).append(timed(run, fn, paths))
    result: dict[str, object] = {
        "images": args.images, "repeats": args.repeats, "workers": args.workers,
        "cores": default_workers(), "load_average_1min": [round(load_before, 2),
                                                          round(os.getloadavg()[0], 2)]}
    for step, runs in got.items():
        serial = statistics.median(r for r, _ in runs["serial"])
        result[step] = {name: {
            "images_per_s": round(statistics.median(r for r, _ in rs)),
            "runs_images_per_s": [round(r) for r, _ in rs],
            "parent_cpu_ms_per_image": round(statistics.median(c for _, c in rs), 3),
            "vs_serial": round(statistics.median(r for r, _ in rs) / serial, 2),
        } for name, rs in runs.items()}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
