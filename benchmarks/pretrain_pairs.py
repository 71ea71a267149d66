"""Continues the shipped base with natural pairs as extra positives, resumably (issue 28).

Usage:
  python benchmarks/pair_data.py                       # once: the pairs corpus
  python benchmarks/pretrain_pairs.py --out /work/runs/pairs [--resume] [--epochs 30]
        [--pairs .devdata/pairs.npz] [--init encoder/base] [--every 300]

The corpus is the base's own (pretrain_base.corpus(): icons and clip art kept apart from
evaluation, photo crops, procedural images; no group) plus the pairs of pair_data.py (one
group id per "same thing"). Each step is lookalike's own train_step: two augmented views of
every image with NT-Xent and reconstruction, as the base was trained, plus the
multi-positive term over the group ids (TrainConfig.pair_weight); half of each batch is
two members of each of 64 random groups. The learning rate warms up, then stays flat, so a
run has no planned end and can be resumed any number of times.

Every --every seconds (and at each epoch's end) the model and the Adam state are written
to OUT/latest/ (model.json + weights.msgpack, and optimizer.msgpack with the step); each
finished epoch is also kept as OUT/epoch_NNN/. model.json's meta "pretraining" says how many
views and CPU-seconds the run (all resumes together) has taken, and the lineage it continues.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx, serialization

sys.path.insert(0, str(Path(__file__).parent))
import pair_data  # noqa: E402
import pretrain_base  # noqa: E402

from lookalike.common.atomic import atomic_write_bytes  # noqa: E402
from lookalike.encoder import checkpoint  # noqa: E402
from lookalike.encoder.augment import jpeg_copies  # noqa: E402
from lookalike.encoder.train import (  # noqa: E402
    TrainConfig,
    device_groups,
    pair_batches,
    train_step,
)

logger = logging.getLogger(__name__)
BASE = Path(__file__).resolve().parents[1] / "encoder" / "base"
OPTIMIZER_FILE = "optimizer.msgpack"


def corpus(pairs_path: Path) -> tuple[np.ndarray, np.ndarray, dict]:
    """(images, group ids with -1 for the base corpus, counts and pair packages)."""
    base_images, counts = pretrain_base.corpus()
    pairs, groups, meta = pair_data.load(pairs_path)
    images = np.concatenate([base_images, pairs])
    ids = np.concatenate([np.full(len(base_images), -1, np.int32), groups])
    return images, ids, {"base": counts, "pair_images": len(pairs),
                         "pair_groups": int(groups.max()) + 1, **meta}


def make_optimizer(model: nnx.Module, lr: float, warmup: int) -> nnx.Optimizer:
    schedule = optax.join_schedules(
        [optax.linear_schedule(0.0, lr, warmup), optax.constant_schedule(lr)], [warmup])
    return nnx.Optimizer(model, optax.adam(schedule), wrt=nnx.Param)


def save(out: Path, name: str, model: checkpoint.Checkpoint, optimizer: nnx.Optimizer | None,
         progress: dict) -> None:
    """model (and the optimizer with progress) into out/name; the weights last-but-one, the
    model.json last, so a folder with a model.json is whole."""
    folder = out / name
    if optimizer is not None:
        state = jax.tree.map(np.asarray, nnx.to_pure_dict(nnx.state(optimizer)))
        blob = serialization.msgpack_serialize({"state": state, "progress": json.dumps(progress)})
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(folder / OPTIMIZER_FILE, blob)
    checkpoint.save(model, folder)


def restore(folder: Path, optimizer: nnx.Optimizer) -> dict:
    blob = serialization.msgpack_restore((folder / OPTIMIZER_FILE).read_bytes())
    state = nnx.state(optimizer)
    nnx.replace_by_pure_dict(state, blob["state"])
    nnx.update(optimizer, state)
    return json.loads(blob["progress"])


def run(args: argparse.Namespace) -> None:
    images, groups, counts = corpus(Path(args.pairs))
    logger.info("corpus %s: %s", images.shape, json.dumps(counts)[:400])
    pretrain(args, images, groups, counts)


class Run:
    """A run's model, Adam state and progress (step, epoch, views, CPU and wall seconds,
    losses, lineage), from args.init or, with args.resume, from args.out/latest."""

    def __init__(self, args: argparse.Namespace, counts: dict) -> None:
        self.args, self.counts, self.out = args, counts, Path(args.out)
        resume = args.resume and (self.out / "latest" / OPTIMIZER_FILE).exists()
        init = checkpoint.load(self.out / "latest" if resume else args.init)
        self.model, self.model_config = init.model, init.config
        self.config = TrainConfig(
            batch_size=args.batch_size, learning_rate=args.lr, temperature=args.temperature,
            augment=pretrain_base.PRETRAIN_AUGMENT, pair_weight=args.pair_weight,
            pair_share=args.pair_share, seed=args.seed)
        self.optimizer = make_optimizer(self.model, args.lr, args.warmup)
        self.progress = {"step": 0, "epoch": 0, "views": 0, "cpu_s": 0.0, "wall_s": 0.0,
                         "continued_from": {"fingerprint": init.fingerprint,
                                            **init.meta.get("pretraining", {})},
                         "losses": []}
        if resume:
            self.progress = restore(self.out / "latest", self.optimizer)
            logger.info("resumed at epoch %d step %d (%d views)", self.progress["epoch"],
                        self.progress["step"], self.progress["views"])
        self.clock = (time.process_time(), time.perf_counter(), self.progress["cpu_s"],
                      self.progress["wall_s"])

    def snapshot(self, name: str) -> None:
        """Saves into out/name (with the Adam state when name is 'latest')."""
        cpu0, wall0, cpu_before, wall_before = self.clock
        progress = self.progress
        progress["cpu_s"] = round(cpu_before + time.process_time() - cpu0, 1)
        progress["wall_s"] = round(wall_before + time.perf_counter() - wall0, 1)
        meta = {"pretraining": {
            "command": " ".join(["python", *sys.argv]), "corpus": self.counts,
            "train_config": {**dataclasses.asdict(self.config),
                             "warmup_steps": self.args.warmup,
                             "schedule": "linear warmup, then constant"},
            **{k: v for k, v in progress.items() if k != "losses"},
            "recent_losses": progress["losses"][-20:],
        }}
        model = checkpoint.Checkpoint(self.model, self.model_config, meta)
        save(self.out, name, model, self.optimizer if name == "latest" else None, progress)
        logger.info("saved %s: epoch %d step %d views %d cpu %.0fs", name, progress["epoch"],
                    progress["step"], progress["views"], progress["cpu_s"])

    def record(self, losses: list) -> None:
        if losses:
            mean = np.asarray(jax.device_get(losses)).mean(0).round(5)
            self.progress["losses"].append(mean.tolist())
            losses.clear()


def pretrain(args: argparse.Namespace, images: np.ndarray, groups: np.ndarray, counts: dict,
             ) -> None:
    """Trains on images (group ids: groups, -1 for none), saving as the module says."""
    run = Run(args, counts)
    config, progress = run.config, run.progress
    data = jnp.asarray(images)
    jpeg = jnp.asarray(jpeg_copies(images, config.augment.jpeg_quality))
    on_device = jnp.asarray(device_groups(groups))
    steps = -(-len(images) // config.batch_size)
    key, saved = jax.random.key(config.seed), time.perf_counter()
    while progress["epoch"] < args.epochs:
        epoch, losses = progress["epoch"], []
        batches = pair_batches(len(images), config.batch_size,
                               np.random.default_rng([args.seed, epoch]), groups,
                               config.pair_share)
        for index in batches[progress["step"] - epoch * steps:]:
            losses.append(train_step(run.model, run.optimizer, data, jpeg, jnp.asarray(index),
                                     jax.random.fold_in(key, progress["step"]), config,
                                     on_device))
            progress["step"] += 1
            progress["views"] += 2 * config.batch_size
            if args.max_steps and progress["step"] >= args.max_steps:
                run.snapshot("latest")
                return
            if time.perf_counter() - saved > args.every:
                run.record(losses)
                run.snapshot("latest")
                saved = time.perf_counter()
        run.record(losses)
        progress["epoch"] += 1
        run.snapshot("latest")
        run.snapshot(f"epoch_{progress['epoch']:03d}")
        saved = time.perf_counter()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="run folder, outside git")
    parser.add_argument("--pairs", default=".devdata/pairs.npz")
    parser.add_argument("--init", default=str(BASE), help="the model to continue")
    parser.add_argument("--resume", action="store_true", help="continue OUT/latest")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--max-steps", type=int, default=0,
                        help="stop (saving latest) once the run has taken this many steps")
    parser.add_argument("--every", type=float, default=300.0, help="seconds between saves")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--warmup", type=int, default=300, help="steps")
    parser.add_argument("--temperature", type=float, default=0.1)
    parser.add_argument("--pair-weight", type=float, default=1.0)
    parser.add_argument("--pair-share", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    run(args)


if __name__ == "__main__":
    main()
