"""`lookalike build`: train, embed, cluster and index a folder or manifest."""

from __future__ import annotations

import argparse
import sys


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


def clusters_arg(value: str) -> str:
    if value != "auto" and not (value.isdigit() and int(value) >= 1):
        raise argparse.ArgumentTypeError("must be a whole number of at least 1, or 'auto'")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build", help="train, embed, cluster and index a folder or manifest")
    p.set_defaults(func=cmd_build)
    p.add_argument("images", help="a folder, or a .txt/.csv/.jsonl manifest of paths or URLs")
    p.add_argument("--out", required=True, help="the collection folder to create")
    p.add_argument("--clusters", default="auto", type=clusters_arg,
                   help="K, or 'auto' to choose by silhouette score (default)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default: model's)")
    p.add_argument("--size", type=int, default=64, help="model input size in pixels (default 64)")
    p.add_argument("--seed", type=int, default=0, help="seed for training and KMeans")
