"""`lookalike build`, `train` and `embed`: flags in, a lookalike.pipeline call, facts out."""

from __future__ import annotations

import argparse
import sys

from lookalike.app.flags import clusters_arg, float_in, positive_int
from lookalike.common import recipe


def _train_config(args: argparse.Namespace):
    from lookalike.encoder.augment import AugmentConfig
    from lookalike.encoder.train import TrainConfig

    return TrainConfig(seed=args.seed, augment=AugmentConfig(flip=args.flip),
                       **({"epochs": args.epochs} if args.epochs else {}))


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


def _ray_config(args: argparse.Namespace):
    """None without --ray; the RayConfig of --ray and --ray-actors otherwise."""
    if args.ray is None:
        return None
    from lookalike.pipeline.ray_embed import RayConfig

    return RayConfig(address=args.ray, actors=args.ray_actors)


def cmd_build(args: argparse.Namespace) -> int:
    from lookalike.pipeline.build import BuildConfig, build_collection

    clusters = None if args.clusters == "auto" else int(args.clusters)
    config = BuildConfig(clusters=clusters, seed=args.seed,
                         model_config=_model_config(args.size),
                         train_config=_train_config(args), from_scratch=args.from_scratch,
                         whiten_power=args.whiten_power,
                         store=args.store, ray=_ray_config(args), workers=args.workers)
    built = build_collection(args.images, args.out, config, model=_load_model(args.model),
                             progress=True)
    _print_skipped(built.skipped)
    print(f"built {args.out}: {built.images} images, {built.clusters} clusters, "
          f"default nprobe {built.default_nprobe}, {len(built.skipped)} skipped; "
          f"seconds per stage {built.seconds}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from lookalike.pipeline.train import train_model

    trained = train_model(args.images, args.out, _model_config(args.size), _train_config(args),
                          from_scratch=args.from_scratch, progress=True,
                          workers=args.workers)
    _print_skipped(trained.skipped)
    print(f"trained on {trained.images} images: final loss {trained.final_loss:.5f}, "
          f"model {trained.fingerprint} -> {args.out}")
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    from lookalike.pipeline.embed import embed_to_file

    embedded = embed_to_file(_load_model(args.model), args.images, args.out,
                             ray=_ray_config(args), progress=True, workers=args.workers)
    _print_skipped(embedded.skipped)
    print(f"embedded {embedded.images} images ({embedded.dim}-d), {len(embedded.skipped)} "
          f"skipped -> {embedded.path}")
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
    p.add_argument("--flip", type=float_in(0, 1), default=recipe.FLIP, metavar="P",
                   help="probability of mirroring a training view (default %(default)s: "
                   "mirrored digits and text are other shapes); raise it (0.5) where mirrored "
                   "copies should find each other")


IMAGES_HELP = "a folder, an image, or a .txt/.csv/.jsonl manifest of paths or URLs"


def _workers_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=positive_int, default=None, metavar="N",
                   help="processes decoding images (default: one per core)")


def _ray_flags(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--ray", metavar="ADDRESS",
                   help=f"{what} on a Ray cluster: 'auto' (the cluster this machine joined), "
                   "ray://HEAD:10001, HEAD:6379, or 'local' to start Ray here; needs "
                   "pip install 'lookalike[ray]', and every node must see the image paths")
    p.add_argument("--ray-actors", type=positive_int, default=2, metavar="N",
                   help="embedding actors on the cluster, each holding the model (default 2)")


def build_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", help=IMAGES_HELP)
    p.add_argument("--out", required=True, help="the collection folder to create")
    p.add_argument("--clusters", default="auto", type=clusters_arg,
                   help="K, or 'auto' to choose by silhouette score (default)")
    p.add_argument("--model", help="a model folder from `lookalike train` (skips training)")
    p.add_argument("--store", metavar="milvus://HOST:PORT/NAME",
                   help="keep the images in this new Milvus collection instead of the folder "
                        "(the folder keeps the model and centroids; token: "
                        "$LOOKALIKE_MILVUS_TOKEN). See docs/scale-out.md")
    _training_flags(p)
    p.add_argument("--whiten-power", type=float_in(0, 0.5), default=recipe.WHITEN_POWER,
                   metavar="P", help="partial PCA whitening of the embeddings: each direction "
                   "divided by its variance to this power (default %(default)s; 0.5: full "
                   "whitening, 0: projection only)")
    _workers_flag(p)
    _ray_flags(p, "decode and embed every image (training stays here, on a sample)")


def train_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", help=IMAGES_HELP)
    p.add_argument("--out", required=True, help="the model folder to write")
    _training_flags(p)
    _workers_flag(p)


def embed_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="a model folder (from `lookalike train`, or DIR/model)")
    p.add_argument("images", help=IMAGES_HELP)
    p.add_argument("--out", required=True, help="the .npz to write (vectors, ids, model)")
    _workers_flag(p)
    _ray_flags(p, "decode and embed")
