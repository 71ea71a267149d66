"""Training objective: denoising reconstruction, a contrastive term between two views, and
optionally natural pairs (images sharing a group id) as extra positives."""

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


def multi_positive_nt_xent(
    z1: jax.Array, z2: jax.Array, groups: jax.Array, temperature: float
) -> jax.Array:
    """Supervised-contrastive NT-Xent (SupCon's L_out) over the 2n views of a batch.

    Every other view whose image shares the anchor's group id is a positive (so are the
    anchor's own second view); the anchor's loss is the mean over its positives of minus
    the log-softmax against all other 2n - 1 views. With every group of one image it is
    exactly nt_xent.

    Args:
        z1, z2: (n, d) embeddings of the two views of the same n images.
        groups: (n,) integer group id of each image.
        temperature: softmax temperature.
    """
    n = z1.shape[0]
    z = jnp.concatenate([z1, z2])
    z = z / (jnp.linalg.norm(z, axis=1, keepdims=True) + 1e-8)
    self_mask = jnp.eye(2 * n, dtype=bool)
    logits = jnp.where(self_mask, -1e9, z @ z.T / temperature)
    log_prob = jax.nn.log_softmax(logits, axis=1)
    g = jnp.concatenate([groups, groups])
    positive = (g[:, None] == g[None, :]) & ~self_mask
    per_anchor = -jnp.sum(jnp.where(positive, log_prob, 0.0), 1) / jnp.sum(positive, 1)
    return per_anchor.mean()


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
    groups: jax.Array | None = None,
    pair_weight: float = 0.0,
) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    """Returns (total, (reconstruction MSE, contrastive loss)) on two views of the batch.

    With groups (one id per image of the batch) and pair_weight, the contrastive loss adds
    pair_weight times multi_positive_nt_xent: images of one group (the same icon name in
    another theme, the same character in another font) are positives too."""
    z1, z2, target1 = encoded_views(model, clean, jpeg, key, augment)
    # Only the first view is reconstructed: the second one would double the decoder's
    # cost for a term that mostly regularises.
    recon = model.decoder(z1)
    rec = jnp.mean((recon - downscale(target1, recon.shape[1])) ** 2)
    con = nt_xent(z1, z2, temperature) if contrast_weight else jnp.zeros(())
    if groups is not None and pair_weight:
        con = con + pair_weight * multi_positive_nt_xent(z1, z2, groups, temperature)
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
