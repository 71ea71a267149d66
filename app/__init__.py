"""The `lookalike` command and its demo: the application over the SDK, server and pipeline."""
