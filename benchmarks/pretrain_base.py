"""Pretrains lookalike's shipped base encoder on a broad corpus kept apart from evaluation.

Usage:
  python benchmarks/pretrain_base.py --out encoder/base [--rounds 12] [--epochs-per-round 3]

The corpus (see quality_data.py for the split): five icon themes that the suite does not
evaluate, the odd clip-art topics, the bundled scikit-image/scikit-learn photos as random
crops, and procedural images (random shapes, strokes and dead-leaves discs), all decoded
through the product's own decoder at 64x64. It needs the Debian packages that
quality_data.py fetches; the shipped weights need nothing.

The recipe differs from a collection's fine-tuning in its views: stronger crops (30-100%
of the area), colour jitter of +-40% and a 20% chance of grey, so the encoder learns what
survives a change of style and palette. Training is `lookalike.encoder.train.train`, run
in rounds that each restart its warmup-cosine schedule from the last round's weights
(warm restarts); every round is saved under --work, so a run can be judged, stopped or
resumed (--resume) between rounds.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).parent))
import quality_data  # noqa: E402
from _common import photo_crops  # noqa: E402

from lookalike.encoder import checkpoint  # noqa: E402
from lookalike.encoder.augment import AugmentConfig  # noqa: E402
from lookalike.encoder.data import load_images  # noqa: E402
from lookalike.encoder.model import ModelConfig  # noqa: E402
from lookalike.encoder.train import TrainConfig, train  # noqa: E402

SIZE = 64
PRETRAIN_AUGMENT = AugmentConfig(area=(0.3, 1.0), brightness=0.4, contrast=0.4,
                                 saturation=0.4, grayscale=0.2, blur=0.5)


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(0, 256, 3))


def procedural(count: int, seed: int = 0) -> np.ndarray:
    """Random shapes and strokes on plain grounds, and dead-leaves discs, as uint8 RGB."""
    rng = np.random.default_rng(seed)
    out = np.empty((count, SIZE, SIZE, 3), np.uint8)
    for i in range(count):
        big = SIZE * 2
        ground = (255, 255, 255) if rng.random() < 0.6 else _colour(rng)
        image = Image.new("RGB", (big, big), ground)
        draw = ImageDraw.Draw(image)
        if rng.random() < 0.25:  # dead leaves: many overlapping discs
            for _ in range(int(rng.integers(20, 80))):
                x, y = rng.integers(0, big, 2)
                r = int(big * rng.power(0.5) * 0.3) + 2
                draw.ellipse((x - r, y - r, x + r, y + r), fill=_colour(rng))
        else:
            for _ in range(int(rng.integers(1, 6))):
                box = np.sort(rng.integers(0, big, (2, 2)), axis=0).ravel().tolist()
                kind = rng.integers(0, 4)
                width = int(rng.integers(1, 8))
                fill = _colour(rng) if rng.random() < 0.7 else None
                if kind == 0:
                    draw.ellipse(box, fill=fill, outline=_colour(rng), width=width)
                elif kind == 1:
                    draw.rectangle(box, fill=fill, outline=_colour(rng), width=width)
                elif kind == 2:
                    points = [tuple(p) for p in rng.integers(0, big, (int(rng.integers(3, 7)), 2))]
                    draw.polygon(points, fill=fill, outline=_colour(rng))
                else:
                    points = [tuple(p) for p in rng.integers(0, big, (int(rng.integers(2, 5)), 2))]
                    draw.line(points, fill=_colour(rng), width=width)
        out[i] = np.asarray(image.resize((SIZE, SIZE), Image.Resampling.BILINEAR))
    return out


def corpus(procedural_count: int = 6000, photo_count: int = 3000) -> tuple[np.ndarray, dict]:
    """The pretraining images, cached in the benchmark cache after the first decode."""
    cache = quality_data.cache_dir() / f"pretrain_{SIZE}_{procedural_count}_{photo_count}.npz"
    if cache.exists():
        data = np.load(cache, allow_pickle=False)
        return data["images"], json.loads(str(data["counts"]))
    files = quality_data.pretrain_files()
    from_files, _, _ = load_images([str(p) for p in files], SIZE, progress=True)
    photos = np.stack([np.asarray(c.convert("RGB").resize((SIZE, SIZE), Image.Resampling.BILINEAR))
                       for c in photo_crops(photo_count, seed=7)])
    shapes = procedural(procedural_count)
    images = np.concatenate([from_files, photos, shapes])
    counts = {"icons_and_clipart": len(from_files), "photo_crops": len(photos),
              "procedural": len(shapes), "total": len(images)}
    np.savez(cache, images=images, counts=np.array(json.dumps(counts)))
    return images, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--work", default=str(quality_data.cache_dir() / "pretrain-rounds"))
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--epochs-per-round", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="continue from the last round")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    images, counts = corpus()
    logging.info("corpus: %s", counts)
    work = Path(args.work)
    done = sorted(work.glob("round_*")) if args.resume else []
    model = checkpoint.load(done[-1]) if done else None
    start, spent = time.perf_counter(), model.meta["pretraining"]["seconds"] if model else 0.0
    for round_ in range(len(done), args.rounds):
        config = TrainConfig(epochs=args.epochs_per_round, seed=args.seed + round_,
                             batch_size=args.batch_size, augment=PRETRAIN_AUGMENT,
                             patience=args.epochs_per_round)
        model = train(images, ModelConfig(image_size=SIZE), config, init=model, progress=True)
        model.meta.pop("base_model", None)
        model.meta["pretraining"] = {
            "corpus": counts, "command": " ".join(["python", *sys.argv]),
            "rounds": round_ + 1, "epochs": (round_ + 1) * args.epochs_per_round,
            "views": (round_ + 1) * args.epochs_per_round * len(images) * 2,
            "seconds": round(spent + time.perf_counter() - start, 1),
        }
        checkpoint.save(model, work / f"round_{round_ + 1:03d}")
        logging.info("round %d saved: loss %.4f", round_ + 1, model.meta["final_loss"])
    fingerprint = checkpoint.save(model, args.out)
    print(json.dumps({"fingerprint": fingerprint, **model.meta["pretraining"]}, indent=2))


if __name__ == "__main__":
    main()
