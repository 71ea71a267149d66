"""The base encoder shipped with lookalike: pretrained once, fine-tuned by each build.

The weights live beside this module as plain files (encoder/base/), so a build needs no
download. How they were made, on which corpus and with which command, is in their
model.json ("meta" -> "pretraining", each step's "continued_from", the totals in "total");
benchmarks/pretrain_base.py, pretrain_sweep.py and pretrain_pairs.py reproduce them, and
BENCHMARKS.md ("Retrieval quality suite") gives their scores.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from lookalike.common import recipe
from lookalike.encoder import checkpoint as checkpoints
from lookalike.encoder.checkpoint import Checkpoint
from lookalike.encoder.model import ModelConfig
from lookalike.encoder.train import TrainConfig, train

logger = logging.getLogger(__name__)

BASE_DIR = Path(__file__).parent / "base"


def load_base(folder: str | Path | None = None) -> Checkpoint | None:
    """The shipped base model (or the one in folder); None where none is installed."""
    folder = Path(folder) if folder else BASE_DIR
    if not (folder / checkpoints.CONFIG_FILE).exists():
        logger.warning("no base model in %s; training from scratch", folder)
        return None
    base = checkpoints.load(folder)
    base.meta.setdefault("base_model", base.fingerprint)
    return base


def fine_tune(
    images: np.ndarray,
    model_config: ModelConfig,
    train_config: TrainConfig,
    *,
    from_scratch: bool = False,
    max_images: int = recipe.FINE_TUNE_IMAGES,
    progress: bool = False,
) -> Checkpoint:
    """Fine-tunes the base model on (a sample of) images, or trains from random weights.

    From scratch where asked, where no base model is installed, or where model_config
    asks for an input size the base model does not have. train_config.epochs == 0 keeps
    the base model's weights as they are (no fine-tuning).
    """
    base = None if from_scratch else load_base()
    if base is not None and base.config.image_size != model_config.image_size:
        logger.info("the base model is %dpx, not %dpx: training from scratch",
                    base.config.image_size, model_config.image_size)
        base = None
    if base is None:
        return train(images, model_config, train_config, progress=progress)
    if train_config.epochs == 0:
        logger.info("epochs 0: the base model %s as it is, not fine-tuned", base.fingerprint)
        return base
    if len(images) > max_images:
        rng = np.random.default_rng(train_config.seed)
        images = images[np.sort(rng.choice(len(images), max_images, replace=False))]
    return train(images, None, train_config, init=base, progress=progress)
