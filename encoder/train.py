"""Training the autoencoder on reconstruction with optax, with early stopping."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from lookalike.common.errors import TrainingError
from lookalike.encoder.checkpoint import Checkpoint
from lookalike.encoder.model import Autoencoder, ModelConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    batch_size: int = 128
    learning_rate: float = 1e-3
    seed: int = 0
    patience: int = 3  # epochs without min_delta relative improvement before stopping
    min_delta: float = 0.01


@dataclass
class TrainHistory:
    losses: list[float] = field(default_factory=list)
    images_per_s: float = 0.0
    stopped_early: bool = False


def check_trainable(images: np.ndarray) -> None:
    """Refuses input no model can be learned from, with a message that says why."""
    if images.ndim != 4 or images.shape[-1] != 3:
        raise TrainingError(f"expected (n, h, w, 3) images, got shape {images.shape}")
    if len(images) < 2:
        raise TrainingError(f"training needs at least 2 images, got {len(images)}")
    if np.all(images == images[:1]):
        raise TrainingError(f"all {len(images)} images are identical; there is nothing to learn")


def _loss(model: Autoencoder, batch: jax.Array) -> jax.Array:
    x = batch.astype(jnp.float32) / 255.0
    _, recon = model(x)
    return jnp.mean((recon - x) ** 2)


@nnx.jit
def train_step(model: Autoencoder, optimizer: nnx.Optimizer, batch: jax.Array) -> jax.Array:
    loss, grads = nnx.value_and_grad(_loss)(model, batch)
    optimizer.update(model, grads)
    return loss


def _epoch_batches(n: int, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """Index batches of one fixed shape: the last one is topped up with random images."""
    order = rng.permutation(n)
    steps = -(-n // batch_size)
    pad = steps * batch_size - n
    if pad:
        order = np.concatenate([order, rng.integers(0, n, pad)])
    return order.reshape(steps, batch_size)


def train(
    images: np.ndarray,
    model_config: ModelConfig | None = None,
    config: TrainConfig | None = None,
    *,
    progress: bool = False,
) -> Checkpoint:
    """Trains an autoencoder on (n, size, size, 3) uint8 images and returns the checkpoint."""
    model_config = model_config or ModelConfig(image_size=images.shape[1])
    config = config or TrainConfig()
    check_trainable(images)
    if images.shape[1:3] != (model_config.image_size, model_config.image_size):
        raise TrainingError(
            f"images are {images.shape[1]}x{images.shape[2]}, the model expects "
            f"{model_config.image_size}x{model_config.image_size}"
        )
    model = Autoencoder(model_config, nnx.Rngs(config.seed))
    optimizer = nnx.Optimizer(model, optax.adam(config.learning_rate), wrt=nnx.Param)
    batch_size = min(config.batch_size, len(images))
    rng = np.random.default_rng(config.seed)
    history = _fit(model, optimizer, images, batch_size, config, rng, progress)
    meta = {
        "train_images": len(images),
        "epochs_run": len(history.losses),
        "losses": [round(v, 6) for v in history.losses],
        "final_loss": history.losses[-1],
        "images_per_s": round(history.images_per_s, 1),
        "stopped_early": history.stopped_early,
        "train_config": config.__dict__,
    }
    return Checkpoint(model, model_config, meta)


def _fit(model, optimizer, images, batch_size, config, rng, progress) -> TrainHistory:
    from tqdm import tqdm

    history = TrainHistory()
    best, stale, seen, spent = np.inf, 0, 0, 0.0
    bar = tqdm(range(config.epochs), desc="train", unit="epoch", disable=not progress)
    for epoch in bar:
        start = time.perf_counter()
        losses = [train_step(model, optimizer, jnp.asarray(images[idx]))
                  for idx in _epoch_batches(len(images), batch_size, rng)]
        loss = float(np.mean(jax.device_get(losses)))
        elapsed = time.perf_counter() - start
        if epoch > 0:  # the first epoch pays for compilation
            seen, spent = seen + len(images), spent + elapsed
        history.losses.append(loss)
        history.images_per_s = seen / spent if spent else len(images) / elapsed
        bar.set_postfix(loss=f"{loss:.5f}", img_s=f"{history.images_per_s:.0f}")
        logger.info("epoch %d loss %.5f (%.1fs)", epoch + 1, loss, elapsed)
        if loss < best * (1 - config.min_delta):
            best, stale = loss, 0
        else:
            stale += 1
            if stale >= config.patience:
                history.stopped_early = True
                break
    return history
