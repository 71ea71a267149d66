"""The Map call through a real server at 100K images: seconds for the SDK's map(), JSON out.

A collection of blob vectors (64 clusters) gets its map (`lookalike map`'s refresh_map, the
default sample), is served on a free port, and the SDK's map() is timed: the first call
(reads map.npz), a second (cached map), and one after adding --added images through the
store (each placed at its mapped neighbours by the store's search), then again (placements
cached). The baseline in the same run: Browse of every row (ids only) through the same SDK,
what a client paging through the collection itself would pay.

    nice -n 10 .venv/bin/python benchmarks/map_call_bench.py [--images 100000] [--added 1000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.testbed import blob_vectors, emit, make_collection, save_model  # noqa: E402
from lookalike.clients import Client  # noqa: E402
from lookalike.indexer.map_file import refresh_map  # noqa: E402


def timed(call) -> tuple[float, object]:
    start = time.perf_counter()
    value = call()
    return round(time.perf_counter() - start, 2), value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--added", type=int, default=1000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    from lookalike.server.config import ServerConfig
    from lookalike.server.grpc_server import create_server

    out: dict = {"images": args.images, "added": args.added}
    with tempfile.TemporaryDirectory(prefix="map-call-") as tmp:
        root = Path(tmp)
        save_model(root / "model")
        vectors = blob_vectors(args.images + args.added, centres=64)
        with make_collection(root / "c", root / "model", vectors[:args.images], k=64) as c:
            out["compute_map_s"], _ = timed(lambda: refresh_map(c, c.folder))
        running = create_server(root / "c", ServerConfig(port=0))
        try:
            with Client(f"127.0.0.1:{running.port}", timeout=600) as client:
                out["map_first_s"], got = timed(client.map)
                out["map_again_s"], _ = timed(client.map)
                out["browse_all_ids_s"], _ = timed(
                    lambda: sum(1 for _ in client.browse_all(page_size=1000)))
                collection = running.engine.collection
                collection.add(vectors[args.images:], [f"/new/{n}.png" for n in
                                                       range(args.added)], [None] * args.added)
                out["map_with_new_s"], got = timed(client.map)
                out["map_with_new_again_s"], got = timed(client.map)
                out["points"], out["placed"] = len(got), int(got.placed.sum())
        finally:
            running.stop(grace_s=1)
    emit(out, args.out)


if __name__ == "__main__":
    main()
