"""Pieces every lookalike package shares: domain errors and image sources."""
