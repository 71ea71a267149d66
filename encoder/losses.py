"""Training objective: denoising reconstruction plus a contrastive term between two views."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from lookalike.encoder.augment import AugmentConfig, view
from lookalike.encoder.model import Autoencoder


def nt_xent(z1: jax.Array, z2: jax.Array, temperature: float) -> jax.Array:
    """SimCLR's loss: each view must pick its partner out of the other 2n - 2 images."""
    n = z1.shape[0]
    z = jnp.concatenate([z1, z2])
    z = z / (jnp.linalg.norm(z, axis=1, keepdims=True) + 1e-8)
    logits = z @ z.T / temperature
    logits = jnp.where(jnp.eye(2 * n, dtype=bool), -1e9, logits)
    partner = jnp.concatenate([jnp.arange(n, 2 * n), jnp.arange(n)])
    return optax.softmax_cross_entropy_with_integer_labels(logits, partner).mean()


def downscale(x: jax.Array, size: int) -> jax.Array:
    """Box-filter (n, h, w, c) down to (n, size, size, c); h must be a multiple of size."""
    n, h, w, c = x.shape
    f = h // size
    return x.reshape(n, size, f, size, f, c).mean((2, 4))


def objective(
    model: Autoencoder,
    clean: jax.Array,
    jpeg: jax.Array,
    key: jax.Array,
    augment: AugmentConfig,
    recon_weight: float,
    contrast_weight: float,
    temperature: float,
) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    """Returns (total, (reconstruction MSE, contrastive loss)) on two views of the batch."""
    z1, z2, target1 = encoded_views(model, clean, jpeg, key, augment)
    # Only the first view is reconstructed: the second one would double the decoder's
    # cost for a term that mostly regularises.
    recon = model.decoder(z1)
    rec = jnp.mean((recon - downscale(target1, recon.shape[1])) ** 2)
    con = nt_xent(z1, z2, temperature) if contrast_weight else jnp.zeros(())
    return recon_weight * rec + contrast_weight * con, (rec, con)


def encoded_views(
    model: Autoencoder, clean: jax.Array, jpeg: jax.Array, key: jax.Array,
    augment: AugmentConfig,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(z1, z2, target1): two random views of the batch encoded in one pass, and the first
    view's clean target."""
    k1, k2 = jax.random.split(key)
    in1, target1 = view(k1, clean, jpeg, augment)
    in2, _ = view(k2, clean, jpeg, augment, target=False)
    z = model.encoder(jnp.concatenate([in1, in2]))
    n = clean.shape[0]
    return z[:n], z[n:], target1
