"""What a build should do with the base model: fine-tune how, whiten how. Scored in process.

Usage:
  python benchmarks/build_recipe.py [--pack .devdata/pack.npz] [--base DIR]
        [--fine-tune default,t01,t01_lr5e-4,none] [--sets icons,clipart,mnist,neardup]

A build fine-tunes the shipped base on (a sample of) the collection with the default
TrainConfig, then PCA-whitens the embeddings to 96 dimensions. From 137ecc64 on, the base is
pretrained with a sharper softmax (NT-Xent temperature 0.1-0.2) than the fine-tuning's 0.5,
and the suite scored the built collection below the base used as it is (icons recall@10
0.079 against 0.087, clip art 0.682 against 0.692). This measures, on the same images in one
run, each fine-tuning setting (FINE_TUNES; "none": the base as it is) followed by no
whitening, full whitening, and partial whitening (each principal direction divided by its
variance**p, p < 0.5: the spectrum is flattened without raising the weak, noisy directions
to the strength of the strong ones), all through the build's own fit_whitening. Icons:
recall@10; clip art and MNIST-5000: precision@10; near duplicates (neardup, from the Debian
cache of quality_data.py): top-1 and recall@10 of the edited and mirrored copies against
the gallery, which is what a build fine-tunes and whitens on. Exact cosine search, self
excluded. The pack comes from `pretrain_sweep.py pack`. JSON on stdout, and to --out after
every set.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import label_scores, png_bytes  # noqa: E402
from pretrain_base import SIZE  # noqa: E402
from pretrain_sweep import neighbours  # noqa: E402

from lookalike.common.decode import decode_image  # noqa: E402
from lookalike.encoder import checkpoint  # noqa: E402
from lookalike.encoder.embed import Embedder  # noqa: E402
from lookalike.encoder.train import TrainConfig, train  # noqa: E402
from lookalike.encoder.whitening import apply_whitening, fit_whitening  # noqa: E402

FINE_TUNES: dict[str, dict | None] = {
    "none": None,  # the base as it is
    "default": {},  # TrainConfig(): temperature 0.5, lr 2e-3, 9 epochs or 350 steps
    "t01": {"temperature": 0.1},  # the base's own softmax
    "t02": {"temperature": 0.2},
    "t01_lr5e-4": {"temperature": 0.1, "learning_rate": 5e-4},  # stays nearer the base
}
# (power, dimensions), each through the build's own fit_whitening: 0.5 is full whitening
# (the earlier default), 0.25 at 96 today's default
WHITENINGS = [(0.5, 96), (0.5, 128), (0.375, 96), (0.25, 96), (0.25, 128), (0.125, 128)]


def whitened(model: checkpoint.Checkpoint, plain: np.ndarray, power: float, dim: int,
             *others: np.ndarray) -> list[np.ndarray]:
    """The build's own whitening (fit_whitening at this power and dim, fitted on plain),
    applied to plain and to each of others (query vectors)."""
    fitted = fit_whitening(model, plain, dim, power)
    if not fitted.config.whiten_dim:
        raise SystemExit(f"{len(plain)} images are too few to whiten to {dim} dimensions")
    return [apply_whitening(fitted, v) for v in (plain, *others)]


def scores(model: checkpoint.Checkpoint, images: np.ndarray, labels: np.ndarray) -> dict:
    plain = Embedder(model)(images)
    out = {"plain": label_scores(neighbours(plain), labels)}
    for power, dim in WHITENINGS:
        (vectors,) = whitened(model, plain, power, dim)
        out[f"p{power}_d{dim}"] = label_scores(neighbours(vectors), labels)
    return out


def dup_scores(model: checkpoint.Checkpoint, gallery: np.ndarray,
               columns: dict[str, np.ndarray]) -> dict:
    """Near duplicates: each query column against the gallery, whitening fitted on it."""
    from retrieval_quality import dup_scores as score
    from retrieval_quality import neighbours as search

    embed = Embedder(model)
    plain = embed(gallery)
    out: dict = {}
    for column, queries in columns.items():
        asked = embed(queries)
        out[column] = {"plain": score(search(plain, asked))}
        for power, dim in WHITENINGS:
            out[column][f"p{power}_d{dim}"] = score(search(*whitened(model, plain, power, dim,
                                                                     asked)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pack", default=".devdata/pack.npz")
    parser.add_argument("--base", default=None, help="a base model folder (default: shipped)")
    parser.add_argument("--fine-tune", default=",".join(FINE_TUNES))
    parser.add_argument("--sets", default="icons,clipart,mnist")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", force=True)
    from lookalike.encoder.pretrained import load_base

    base = checkpoint.load(Path(args.base)) if args.base else load_base()
    data = np.load(args.pack, allow_pickle=False)
    out: dict = {"base": base.fingerprint}
    for name in args.sets.split(","):
        columns = None
        if name == "mnist":
            images = np.stack([decode_image(png_bytes(d), SIZE) for d in data["mnist_digits"]])
        elif name == "neardup":
            from retrieval_quality import neardup_set

            _, images, files = neardup_set()
            columns = {c: np.stack([decode_image(b, SIZE) for b in f]) for c, f in files.items()}
        else:
            images = data[f"{name}_images"]
        for variant in args.fine_tune.split(","):
            start = time.perf_counter()
            settings = FINE_TUNES[variant]
            model = base if settings is None else train(
                images, None, dataclasses.replace(TrainConfig(), **settings), init=base)
            found = (dup_scores(model, images, columns) if columns is not None
                     else scores(model, images, data[f"{name}_labels"]))
            out[f"{name}/{variant}"] = {**found, "seconds": round(time.perf_counter() - start, 1)}
            logging.info("%s/%s: %s", name, variant, json.dumps(out[f"{name}/{variant}"]))
            if args.out:
                args.out.write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
