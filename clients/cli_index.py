"""Collection maintenance commands (add, delete, recluster, report) register here."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """No maintenance commands yet."""
