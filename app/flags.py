"""The flags shared by several commands, defined once: connection, counts and cluster K."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

DEFAULT_TARGET = "127.0.0.1:50051"
TOKEN_ENV = "LOOKALIKE_TOKEN"


def add_connection_args(p: argparse.ArgumentParser, *, sends_images: bool = True) -> None:
    """Adds --target, --timeout, --token, --tls, --root-certs, --tls-server-name (and
    --no-downsize when the command sends images) to a subcommand's parser."""
    p.add_argument("--target", default=DEFAULT_TARGET, help="server HOST:PORT")
    p.add_argument("--timeout", type=float, default=30.0, help="deadline per call, seconds")
    p.add_argument("--token", help=f"bearer token (default: ${TOKEN_ENV})")
    p.add_argument("--tls", action="store_true", help="connect over TLS")
    p.add_argument("--root-certs", help="PEM file of CAs to trust (implies --tls)")
    p.add_argument("--tls-server-name", help="name to check the server certificate against")
    if sends_images:
        p.add_argument("--no-downsize", action="store_true",
                       help="send images as they are instead of at the model's input size")


def connect(args: argparse.Namespace, retries: int | None = None) -> Any:
    """A Client built from the flags add_connection_args added (the token falls back to
    $LOOKALIKE_TOKEN)."""
    from lookalike.clients import Client, RetryPolicy

    retry = RetryPolicy() if retries is None else RetryPolicy(attempts=retries + 1)
    return Client(
        args.target, timeout=args.timeout, token=args.token or os.environ.get(TOKEN_ENV),
        tls=args.tls, root_certificates=args.root_certs, tls_server_name=args.tls_server_name,
        retry=retry, downsize=not getattr(args, "no_downsize", False),
    )


def positive_int(value: str) -> int:
    """An argparse type: a whole number of at least 1."""
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {value!r}")
    return int(value)


def float_in(low: float, high: float) -> Callable[[str], float]:
    """An argparse type: a number from low to high."""

    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not low <= number <= high:  # nan fails too
            raise argparse.ArgumentTypeError(f"must be a number from {low} to {high}, "
                                             f"got {value!r}")
        return number

    return parse


def clusters_arg(value: str) -> str:
    """An argparse type: a cluster count K, or 'auto'."""
    if value != "auto":
        positive_int(value)
    return value
