"""The `lookalike` command: subcommands mapped to plain functions."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import asdict

from lookalike.common.errors import LookalikeError

DEFAULT_TARGET = "127.0.0.1:50051"


def cmd_build(args: argparse.Namespace) -> int:
    from lookalike.encoder.model import ModelConfig
    from lookalike.encoder.train import TrainConfig
    from lookalike.indexer.build import BuildConfig, build_collection

    clusters = None if args.clusters == "auto" else int(args.clusters)
    train_config = TrainConfig(seed=args.seed, **({"epochs": args.epochs} if args.epochs else {}))
    config = BuildConfig(clusters=clusters, seed=args.seed,
                         model_config=ModelConfig(image_size=args.size), train_config=train_config)
    report = build_collection(args.images, args.out, config, progress=True)
    for query, message in report.skipped[:10]:
        print(f"skipped {query}: {message}", file=sys.stderr)
    print(f"built {args.out}: {report.images} images, {report.clusters} clusters, "
          f"default nprobe {report.default_nprobe}, {len(report.skipped)} skipped; "
          f"seconds per stage {report.seconds}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from lookalike.server.app import serve
    from lookalike.server.config import ServerConfig

    config = ServerConfig(host=args.host, port=args.port)
    return serve(args.collection, config,
                 ready=lambda port: print(f"lookalike serving on {args.host}:{port}", flush=True))


def cmd_search(args: argparse.Namespace) -> int:
    from lookalike.clients.client import Client

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


def cmd_demo(args: argparse.Namespace) -> int:
    from lookalike.clients.demo import run_demo

    return run_demo(args.out, queries=args.queries, k=args.k)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lookalike", description="Image-similarity search.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, func: Callable[[argparse.Namespace], int], help: str):
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    p = command("build", cmd_build, "train, embed, cluster and index a folder or manifest")
    p.add_argument("images", help="a folder, or a .txt/.csv/.jsonl manifest of paths or URLs")
    p.add_argument("--out", required=True, help="the collection folder to create")
    p.add_argument("--clusters", default="auto", help="K, or 'auto' to choose by silhouette")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default: model's)")
    p.add_argument("--size", type=int, default=64, help="model input size in pixels")
    p.add_argument("--seed", type=int, default=0)

    p = command("serve", cmd_serve, "serve a collection over gRPC")
    p.add_argument("collection")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=50051)

    p = command("search", cmd_search, "find the images most like one image")
    p.add_argument("image", nargs="?", help="a path or URL (or use --id)")
    p.add_argument("--id", help="search by the id of a stored image")
    p.add_argument("--target", default=DEFAULT_TARGET, help="server HOST:PORT")
    p.add_argument("-k", type=int, default=10, help="neighbours wanted")
    p.add_argument("--nprobe", type=int, default=None, help="clusters to scan")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--plot", help="write a PNG of the query beside its neighbours")

    p = command("bulk", cmd_bulk, "search every image of a manifest")
    p.add_argument("manifest", help="a folder, or a .txt/.csv/.jsonl manifest")
    p.add_argument("--target", default=DEFAULT_TARGET)
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--out", required=True, help="results.jsonl")

    p = command("info", cmd_info, "describe the served collection")
    p.add_argument("--target", default=DEFAULT_TARGET)

    p = command("demo", cmd_demo, "build, serve and query bundled MNIST digits end to end")
    p.add_argument("--out", default="demo-output", help="where to write the demo's files")
    p.add_argument("--queries", type=int, default=5)
    p.add_argument("-k", type=int, default=8)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if getattr(args, "image", None) is None and args.command == "search" and not args.id:
        print("lookalike search: give an IMAGE or --id", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except LookalikeError as exc:
        print(f"lookalike {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
