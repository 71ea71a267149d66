"""The convolutional autoencoder whose bottleneck is lookalike's embedding."""
