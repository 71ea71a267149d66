"""`lookalike build`, `train` and `embed`: from images to a model, vectors, or a collection."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lookalike.app.flags import clusters_arg, positive_int


def _train_config(args: argparse.Namespace):
    from lookalike.encoder.train import TrainConfig

    return TrainConfig(seed=args.seed, **({"epochs": args.epochs} if args.epochs else {}))


def _model_config(size: int):
    from lookalike.common.errors import InvalidArgument
    from lookalike.encoder.model import ModelConfig

    try:
        return ModelConfig(image_size=size)
    except ValueError as exc:
        raise InvalidArgument(f"--size {size}: {exc}") from None


def _load_model(folder: str | None):
    from lookalike.encoder import checkpoint

    return checkpoint.load(folder) if folder else None


def cmd_build(args: argparse.Namespace) -> int:
    from lookalike.indexer.build import BuildConfig, build_collection

    clusters = None if args.clusters == "auto" else int(args.clusters)
    config = BuildConfig(clusters=clusters, seed=args.seed,
                         model_config=_model_config(args.size),
                         train_config=_train_config(args), from_scratch=args.from_scratch)
    report = build_collection(args.images, args.out, config, model=_load_model(args.model),
                              progress=True)
    report.collection.close()  # releases the folder's lock for whoever opens it next
    _print_skipped(report.skipped)
    print(f"built {args.out}: {report.images} images, {report.clusters} clusters, "
          f"default nprobe {report.default_nprobe}, {len(report.skipped)} skipped; "
          f"seconds per stage {report.seconds}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from lookalike.common.errors import TrainingError
    from lookalike.common.sources import read_sources
    from lookalike.encoder import checkpoint
    from lookalike.encoder.base import fine_tune
    from lookalike.encoder.data import load_images

    sources = read_sources(args.images)
    images, kept, failed = load_images([s.location for s in sources], args.size, progress=True)
    _print_skipped([(sources[i].query, message) for i, message in failed])
    if not kept:
        raise TrainingError(f"no readable images in {args.images}")
    model = fine_tune(images, _model_config(args.size), _train_config(args),
                      from_scratch=args.from_scratch, progress=True)
    fingerprint = checkpoint.save(model, args.out)
    print(f"trained on {len(kept)} images: final loss {model.meta.get('final_loss', 0):.5f}, "
          f"model {fingerprint} -> {args.out}")
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    import numpy as np

    from lookalike.common.sources import read_sources
    from lookalike.encoder.data import load_images
    from lookalike.encoder.embed import Embedder

    model = _load_model(args.model)
    sources = read_sources(args.images)
    images, kept, failed = load_images([s.location for s in sources], model.config.image_size,
                                       progress=True)
    _print_skipped([(sources[i].query, message) for i, message in failed])
    vectors = Embedder(model)(images)
    ids = np.array([sources[i].id or sources[i].query for i in kept], dtype=str)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as f:  # np.savez would append .npz to a name without it
        np.savez(f, vectors=vectors, ids=ids, model=np.array(model.fingerprint))
    print(f"embedded {len(kept)} images ({vectors.shape[1]}-d), {len(failed)} skipped -> {out}")
    return 0


def _print_skipped(skipped: list[tuple[str, str]]) -> None:
    for query, message in skipped[:10]:
        print(f"skipped {query}: {message}", file=sys.stderr)
    if len(skipped) > 10:
        print(f"... and {len(skipped) - 10} more skipped", file=sys.stderr)


def _training_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--epochs", type=positive_int, default=None,
                   help="most training epochs; training stops early when the loss plateaus "
                   "(default: 9, or more on small sets so that training runs at least 350 "
                   "steps)")
    p.add_argument("--size", type=positive_int, default=64,
                   help="model input size in pixels, a multiple of 16 (default 64)")
    p.add_argument("--seed", type=int, default=0, help="seed: same seed, same model")
    p.add_argument("--from-scratch", action="store_true",
                   help="train from random weights instead of fine-tuning the base model "
                   "shipped with lookalike (the base is used by default at --size 64)")


IMAGES_HELP = "a folder, or a .txt/.csv/.jsonl manifest of paths or URLs"


def build_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", help=IMAGES_HELP)
    p.add_argument("--out", required=True, help="the collection folder to create")
    p.add_argument("--clusters", default="auto", type=clusters_arg,
                   help="K, or 'auto' to choose by silhouette score (default)")
    p.add_argument("--model", help="a model folder from `lookalike train` (skips training)")
    _training_flags(p)


def train_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", help=IMAGES_HELP)
    p.add_argument("--out", required=True, help="the model folder to write")
    _training_flags(p)


def embed_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="a model folder (from `lookalike train`, or DIR/model)")
    p.add_argument("images", help=IMAGES_HELP)
    p.add_argument("--out", required=True, help="the .npz to write (vectors, ids, model)")
