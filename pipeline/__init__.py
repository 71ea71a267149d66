"""Build, train, embed and add-from-manifest: library functions over the encoder and indexer."""
