"""`lookalike search`, `bulk` and `info`: asking a running server."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

DEFAULT_TARGET = "127.0.0.1:50051"


def cmd_search(args: argparse.Namespace) -> int:
    from lookalike.clients.client import Client

    if not args.image and not args.id:
        raise SystemExit("lookalike search: give an IMAGE or --id")
    with Client(args.target) as client:
        if args.id:
            result = client.search(id=args.id, k=args.k, nprobe=args.nprobe)
        else:
            result = client.search(args.image, k=args.k, nprobe=args.nprobe)
    if args.plot:
        from lookalike.clients.plot import plot_result

        plot_result(result, args.plot)
    if args.json:
        print(json.dumps({"cluster": result.cluster,
                          "neighbors": [asdict(n) for n in result.neighbors]}))
    else:
        print(f"query cluster {result.cluster}")
        for rank, n in enumerate(result.neighbors, 1):
            print(f"{rank:3d}. {n.id:>10}  d={n.distance:<10.4g} cluster={n.cluster:<4} {n.path}")
    return 0


def cmd_bulk(args: argparse.Namespace) -> int:
    from lookalike.clients.bulk import run_bulk
    from lookalike.clients.client import Client

    with Client(args.target) as client:
        summary = run_bulk(args.manifest, client, args.out, k=args.k)
    print(f"{summary.rows} rows, {summary.errors} errors, {summary.rate:.0f} rows/s -> {args.out}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from lookalike.clients.client import Client

    with Client(args.target) as client:
        print(json.dumps(asdict(client.info()), indent=2))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="find the images most like one image")
    p.set_defaults(func=cmd_search)
    p.add_argument("image", nargs="?", help="a path or URL (or use --id)")
    p.add_argument("--id", help="search by the id of a stored image")
    p.add_argument("--target", default=DEFAULT_TARGET, help="server HOST:PORT")
    p.add_argument("-k", type=int, default=10, help="neighbours wanted (default 10)")
    p.add_argument("--nprobe", type=int, default=None, help="clusters to scan")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--plot", help="write a PNG of the query beside its neighbours")

    p = sub.add_parser("bulk", help="search every image of a manifest")
    p.set_defaults(func=cmd_bulk)
    p.add_argument("manifest", help="a folder, or a .txt/.csv/.jsonl manifest")
    p.add_argument("--target", default=DEFAULT_TARGET, help="server HOST:PORT")
    p.add_argument("-k", type=int, default=10, help="neighbours per row (default 10)")
    p.add_argument("--out", required=True, help="results.jsonl")

    p = sub.add_parser("info", help="describe the served collection")
    p.set_defaults(func=cmd_info)
    p.add_argument("--target", default=DEFAULT_TARGET, help="server HOST:PORT")
