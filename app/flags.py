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


def client_options(args: argparse.Namespace, retries: int | None = None) -> dict[str, Any]:
    """make_config's keywords from the flags add_connection_args added (the token falls back
    to $LOOKALIKE_TOKEN)."""
    from lookalike.clients import RetryPolicy

    retry = RetryPolicy() if retries is None else RetryPolicy(attempts=retries + 1)
    return dict(timeout=args.timeout, token=args.token or os.environ.get(TOKEN_ENV),
                tls=args.tls, root_certificates=args.root_certs,
                tls_server_name=args.tls_server_name, retry=retry,
                downsize=not getattr(args, "no_downsize", False))


def connect(args: argparse.Namespace, retries: int | None = None) -> Any:
    """A Client built from the flags add_connection_args added."""
    from lookalike.clients import Client

    return Client(args.target, **client_options(args, retries))


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


def add_filter_args(p: argparse.ArgumentParser, prefix: str = "") -> None:
    """Adds the filter flags (with `prefix`, e.g. "filter-" for bulk); filter_from reads them."""
    def flag(name: str, **kw: Any) -> None:
        p.add_argument(f"--{prefix}{name}", dest=f"f_{name.replace('-', '_')}", **kw)

    flag("label", action="append", default=[], metavar="LABEL",
         help="only images with this label (repeat: all of them)")
    flag("any-label", action="append", default=[], metavar="LABEL",
         help="only images with at least one of these labels (repeat)")
    flag("no-label", action="append", default=[], metavar="LABEL",
         help="only images without this label (repeat)")
    flag("attr", action="append", default=[], metavar="KEY[:number]=VALUE",
         type=attr_assignment,
         help="only images whose attribute KEY is VALUE (text; KEY:number=1.5 for a number)")
    flag("range", action="append", default=[], metavar="KEY=MIN:MAX", type=range_arg,
         help="only images whose number attribute KEY is in [MIN, MAX]; a side may be empty")
    flag("has-attr", action="append", default=[], metavar="KEY",
         help="only images that have attribute KEY")
    flag("path-prefix", default="", metavar="TEXT", help="only images whose path starts so")
    flag("cluster", action="append", type=int, default=[], metavar="N",
         help="only images in cluster N (repeat: any of them)")


def attr_assignment(text: str) -> tuple[str, str | float]:
    """"KEY=VALUE" -> (KEY, "VALUE"); "KEY:number=1.5" -> (KEY, 1.5)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE or KEY:number=VALUE, got {text!r}")
    if key.endswith(":number"):
        try:
            return key[: -len(":number")], float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: {value!r} is not a number") from None
    return key, value


def range_arg(text: str) -> Any:
    """An argparse type: "KEY=MIN:MAX" (a side may be empty) as an SDK Range."""
    from lookalike.clients import Range

    key, sep, bounds = text.partition("=")
    low, colon, high = bounds.partition(":")
    try:
        if not sep or not colon:
            raise ValueError
        return Range(key, float(low) if low.strip() else None,
                      float(high) if high.strip() else None)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected KEY=MIN:MAX (a side may be empty), got "
                                         f"{text!r}") from None


def filter_from(args: argparse.Namespace) -> Any:
    """The SDK Filter the filter flags ask for, or None when none was given."""
    from lookalike.clients import Equals, Exists, Filter

    attrs = ([Equals(*a) for a in args.f_attr] + args.f_range
             + [Exists(k) for k in args.f_has_attr])
    if not (attrs or args.f_any_label or args.f_label or args.f_no_label
            or args.f_path_prefix or args.f_cluster):
        return None
    return Filter(any_labels=args.f_any_label, all_labels=args.f_label,
                  none_labels=args.f_no_label, attributes=attrs, path_prefix=args.f_path_prefix,
                  clusters=args.f_cluster or None)
