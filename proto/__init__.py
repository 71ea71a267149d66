"""The lookalike.v1 wire contract and its generated stubs."""
