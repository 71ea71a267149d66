"""`lookalike map DIR`: (re)computes the 2-D map a collection keeps for the Map call."""

from __future__ import annotations

import argparse

from lookalike.app.flags import positive_int
from lookalike.common import recipe


def cmd_map(args: argparse.Namespace) -> int:
    from lookalike.indexer.map_compute import MapConfig
    from lookalike.indexer.map_file import MAP_FILE, refresh_map
    from lookalike.indexer.opener import open_collection

    # Read-only: beside a running server (which reads the new map on its next Map call).
    collection = open_collection(args.collection, read_only=True)
    try:
        config = MapConfig(sample=args.sample, seed=args.seed)
        found = refresh_map(collection, collection.folder, config, progress=True)
    finally:
        collection.close()
    sampled = min(len(found.ids), args.sample) if args.sample else len(found.ids)
    print(f"mapped {len(found.ids)} images of {args.collection} in {found.seconds:.1f}s "
          f"(t-SNE on {sampled}, the rest placed near their neighbours) -> "
          f"{MAP_FILE}, version {found.version}")
    return 0


def map_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("collection", help="the collection folder (it may be being served)")
    p.add_argument("--sample", type=positive_int, default=recipe.MAP_SAMPLE,
                   help=f"t-SNE on at most this many images, the rest placed near their "
                        f"neighbours (default {recipe.MAP_SAMPLE:,}: about a minute of 2 cores)")
    p.add_argument("--seed", type=int, default=0, help="sampling and t-SNE seed")
