"""The encoder's stem is the Linear-over-patches that checkpoints store."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from flax import nnx

from lookalike.encoder.model import Encoder, ModelConfig


def test_stem_convolution_equals_the_linear_over_patches():
    # Checkpoints hold the stem as a Linear over flattened (row, column, channel) patches;
    # the convolution that computes it must read that kernel in the same order.
    config = ModelConfig(image_size=32, stem=4, widths=(8,), embed_dim=4, decoder_widths=(8,),
                         head="flatten")
    encoder = Encoder(config, nnx.Rngs(0))
    x = jnp.asarray(np.random.default_rng(0).random((2, 32, 32, 3), np.float32))
    patches = x.reshape(2, 8, 4, 8, 4, 3).transpose(0, 1, 3, 2, 4, 5).reshape(2, 8, 8, 48)
    expected = nnx.relu(encoder.patch(patches)).reshape(2, -1)
    got = encoder(x)
    np.testing.assert_allclose(got, encoder.proj(expected), rtol=1e-5, atol=1e-5)
