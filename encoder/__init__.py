"""The convolutional autoencoder whose bottleneck is lookalike's embedding."""

from lookalike.encoder.xla_flags import DEFAULT_XLA_FLAGS, add_xla_flags

# Before any encoder module starts JAX's backend.
add_xla_flags(*DEFAULT_XLA_FLAGS, warn_if_late=False)
