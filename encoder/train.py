"""Training the autoencoder with optax: two augmented views, early stopping, a progress bar."""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from lookalike.common import recipe
from lookalike.common.errors import TrainingError
from lookalike.encoder.augment import AugmentConfig, jpeg_copies
from lookalike.encoder.checkpoint import Checkpoint
from lookalike.encoder.device import log_device
from lookalike.encoder.losses import objective
from lookalike.encoder.model import Autoencoder, ModelConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """How the autoencoder trains; the defaults, with reasons, are in common/recipe.py."""

    # None: auto, see epochs_for. 0: no training; fine_tune() then keeps the base's weights
    # as they are (a build still fits the whitening on the collection).
    epochs: int | None = None
    min_steps: int = recipe.MIN_STEPS  # auto epochs give a small set at least this many steps
    batch_size: int = recipe.BATCH_SIZE
    learning_rate: float = recipe.LEARNING_RATE
    seed: int = 0
    # epochs without min_delta relative improvement before stopping
    patience: int = recipe.PATIENCE
    min_delta: float = recipe.MIN_DELTA
    recon_weight: float = recipe.RECON_WEIGHT
    contrast_weight: float = recipe.CONTRAST_WEIGHT  # 0 trains a plain (denoising) autoencoder
    temperature: float = recipe.TEMPERATURE  # of the NT-Xent term between the two views
    warmup_epochs: float = recipe.WARMUP_EPOCHS
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    # Only when train() is given group ids (natural pairs, issue 28): the weight of the
    # multi-positive term, and the share of each batch drawn as two members of a group.
    pair_weight: float = recipe.PAIR_WEIGHT
    pair_share: float = recipe.PAIR_SHARE

    def epochs_for(self, steps_per_epoch: int) -> int:
        """The epochs to run: `epochs` when given; else 9, or more so that a small set
        still trains for min_steps steps (the same step budget as 5,000 images)."""
        if self.epochs is not None:
            return self.epochs
        return max(recipe.AUTO_EPOCHS, -(-self.min_steps // max(1, steps_per_epoch)))


@dataclass
class TrainHistory:
    losses: list[float] = field(default_factory=list)
    recon: list[float] = field(default_factory=list)
    contrast: list[float] = field(default_factory=list)
    images_per_s: float = 0.0
    stopped_early: bool = False


def check_trainable(images: np.ndarray) -> None:
    """Refuses input no model can be learned from, with a message that says why."""
    if images.ndim != 4 or images.shape[-1] != 3:
        raise TrainingError(f"expected (n, h, w, 3) images, got shape {images.shape}")
    if images.dtype != np.uint8:
        raise TrainingError(f"expected uint8 images, got {images.dtype}")
    if len(images) < 2:
        raise TrainingError(f"training needs at least 2 images, got {len(images)}")
    if np.all(images == images[:1]):
        raise TrainingError(f"all {len(images)} images are identical; there is nothing to learn")


@functools.partial(nnx.jit, static_argnames=("config",))
def train_step(
    model: Autoencoder,
    optimizer: nnx.Optimizer,
    data: jax.Array,
    jpeg: jax.Array,
    index: jax.Array,
    key: jax.Array,
    config: TrainConfig,
    groups: jax.Array | None = None,
) -> jax.Array:
    """One optimiser step; returns [total, reconstruction, contrastive] losses.

    groups: every training image's group id, or None (no pairs: today's objective)."""
    pairs = {} if groups is None else {"groups": groups[index],
                                       "pair_weight": config.pair_weight}
    loss_fn = functools.partial(
        objective, augment=config.augment, recon_weight=config.recon_weight,
        contrast_weight=config.contrast_weight, temperature=config.temperature, **pairs,
    )
    (loss, (rec, con)), grads = nnx.value_and_grad(loss_fn, has_aux=True)(
        model, data[index], jpeg[index], key
    )
    optimizer.update(model, grads)
    return jnp.stack([loss, rec, con])


def _epoch_batches(n: int, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """Index batches of one fixed shape: the last one is topped up with random images."""
    order = rng.permutation(n)
    steps = -(-n // batch_size)
    pad = steps * batch_size - n
    if pad:
        order = np.concatenate([order, rng.integers(0, n, pad)])
    return order.reshape(steps, batch_size)


def pair_batches(n: int, batch_size: int, rng: np.random.Generator, groups: np.ndarray,
                  share: float) -> np.ndarray:
    """_epoch_batches whose first share of each batch is pairs: two different members of
    each of batch_size * share / 2 random groups of two or more (-1: no group)."""
    batches = _epoch_batches(n, batch_size, rng)
    ids, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    real = np.flatnonzero((sizes > 1) & (ids >= 0))
    k = int(batch_size * share) // 2
    if k == 0 or len(real) == 0:
        return batches
    members = np.argsort(inverse, kind="stable")
    starts = np.concatenate([[0], np.cumsum(sizes)])[real]
    sizes = sizes[real]
    g = rng.integers(0, len(real), (len(batches), k))
    a = rng.integers(0, sizes[g])
    b = (a + rng.integers(1, sizes[g])) % sizes[g]
    pairs = np.stack([members[starts[g] + a], members[starts[g] + b]], -1)
    batches[:, : 2 * k] = pairs.reshape(len(batches), 2 * k)
    return batches


def device_groups(groups: np.ndarray) -> np.ndarray:
    """Group ids for the loss: images of no group (-1) each get an id of their own."""
    out = groups.astype(np.int64).copy()
    lone = out < 0
    out[lone] = out.max(initial=0) + 1 + np.arange(lone.sum())
    return out.astype(np.int32)


def train(
    images: np.ndarray,
    model_config: ModelConfig | None = None,
    config: TrainConfig | None = None,
    *,
    init: Checkpoint | None = None,
    progress: bool = False,
    groups: np.ndarray | None = None,
) -> Checkpoint:
    """Trains an autoencoder on (n, size, size, 3) uint8 images and returns the checkpoint.

    With init, training starts from that checkpoint's weights (fine-tuning; its
    architecture wins over model_config) instead of a random initialisation. With groups
    ((n,) int, -1 for none), images sharing a group are positives of each other too
    (config.pair_weight, config.pair_share).

    Raises:
        TrainingError: too few images, all identical, or not the model's size.
    """
    if init is not None:
        if init.config.whiten_dim:
            raise TrainingError("a whitened model cannot be trained further")
        model_config = init.config
    model_config = model_config or ModelConfig(image_size=images.shape[1])
    config = config or TrainConfig()
    check_trainable(images)
    if groups is not None and groups.shape != (len(images),):
        raise TrainingError(f"expected {len(images)} group ids, got shape {groups.shape}")
    if images.shape[1:3] != (model_config.image_size, model_config.image_size):
        raise TrainingError(
            f"images are {images.shape[1]}x{images.shape[2]}, the model expects "
            f"{model_config.image_size}x{model_config.image_size}"
        )
    log_device()
    model = Autoencoder(model_config, nnx.Rngs(config.seed))
    if init is not None:
        nnx.update(model, nnx.state(init.model, nnx.Param))
    batch_size = min(config.batch_size, len(images))
    steps_per_epoch = -(-len(images) // batch_size)
    epochs = config.epochs_for(steps_per_epoch)
    if epochs < 1:
        raise TrainingError(f"training needs at least one epoch, got {epochs}")
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, config.learning_rate, max(1, int(config.warmup_epochs * steps_per_epoch)),
        max(2, epochs * steps_per_epoch),
    )
    optimizer = nnx.Optimizer(model, optax.adam(schedule), wrt=nnx.Param)
    history = _fit(model, optimizer, images, batch_size, epochs, config, progress, groups)
    meta = {
        "train_images": len(images),
        "epochs_run": len(history.losses),
        "losses": [round(v, 6) for v in history.losses],
        "final_loss": history.losses[-1],
        "final_recon_loss": history.recon[-1],
        "final_contrast_loss": history.contrast[-1],
        "images_per_s": round(history.images_per_s, 1),
        "stopped_early": history.stopped_early,
        "train_config": dataclasses.asdict(config),
    }
    if init is not None:
        meta["base_model"] = init.meta.get("base_model") or init.fingerprint
    return Checkpoint(model, model_config, meta)


def _fit(model, optimizer, images, batch_size, epochs, config, progress,
         groups=None) -> TrainHistory:
    from tqdm import tqdm

    n = len(images)
    rng = np.random.default_rng(config.seed)
    base_key = jax.random.key(config.seed)
    # The whole uint8 set lives on the device once; steps gather their batch from it,
    # so the host never copies batches and every step has the same shapes.
    data = jnp.asarray(images)
    jpeg = jnp.asarray(jpeg_copies(images, config.augment.jpeg_quality)
                       if config.augment.jpeg > 0 else images)
    on_device = None if groups is None else jnp.asarray(device_groups(groups))
    history = TrainHistory()
    best, stale, seen, spent, step = np.inf, 0, 0, 0.0, 0
    bar = tqdm(total=epochs * n, unit="img", unit_scale=True, disable=not progress,
               desc="train")
    for epoch in range(epochs):
        bar.set_description(f"train epoch {epoch + 1}/{epochs}")
        start = time.perf_counter()
        out, done = [], 0
        batches = (_epoch_batches(n, batch_size, rng) if groups is None else
                   pair_batches(n, batch_size, rng, groups, config.pair_share))
        for index in batches:
            key = jax.random.fold_in(base_key, step)
            out.append(train_step(model, optimizer, data, jpeg, jnp.asarray(index), key, config,
                                  on_device))
            step += 1
            bar.update(min(batch_size, n - done))
            done += batch_size
        loss, rec, con = np.mean(jax.device_get(out), axis=0).tolist()
        elapsed = time.perf_counter() - start
        if epoch > 0:  # the first epoch pays for compilation
            seen, spent = seen + n, spent + elapsed
        history.losses.append(loss)
        history.recon.append(rec)
        history.contrast.append(con)
        history.images_per_s = seen / spent if spent else n / elapsed
        bar.set_postfix(loss=f"{loss:.4f}", recon=f"{rec:.4f}", img_s=f"{history.images_per_s:.0f}")
        logger.info("epoch %d loss %.5f recon %.5f contrast %.4f (%.1fs)",
                    epoch + 1, loss, rec, con, elapsed)
        if loss < best * (1 - config.min_delta):
            best, stale = loss, 0
        else:
            stale += 1
            if stale >= config.patience:
                history.stopped_early = True
                break
    bar.close()
    return history
