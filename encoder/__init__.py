"""The convolutional autoencoder whose bottleneck is lookalike's embedding."""

from lookalike.encoder.xla_flags import add_default_xla_flags

# Before any encoder module starts JAX's backend.
add_default_xla_flags()
