"""The `lookalike` command: each cli_* module registers its subcommands."""

from __future__ import annotations

import argparse
import logging
import sys

from lookalike.clients import cli_build, cli_index, cli_query, cli_serve
from lookalike.common.errors import LookalikeError
from lookalike.common.sources import ManifestError

COMMAND_MODULES = (cli_build, cli_serve, cli_query, cli_index)


def cmd_demo(args: argparse.Namespace) -> int:
    from lookalike.clients.demo import run_demo

    return run_demo(args.out, queries=args.queries, k=args.k, epochs=args.epochs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lookalike", description="Image-similarity search.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    p = sub.add_parser("demo", help="build, serve and query bundled MNIST digits end to end")
    p.set_defaults(func=cmd_demo)
    p.add_argument("--out", default="demo-output", help="where to write the demo's files")
    p.add_argument("--queries", type=int, default=5, help="how many digits to search")
    p.add_argument("-k", type=int, default=8, help="neighbours per query")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default: model's)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for stream in (sys.stdout, sys.stderr):
        # A non-UTF-8 file name is a surrogate-escaped str: show its bytes as escapes
        # rather than die printing a message about it.
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except ManifestError as exc:  # like a bad argument: nothing was done
        print(f"lookalike {args.command}: {exc}", file=sys.stderr)
        return 2
    except LookalikeError as exc:
        print(f"lookalike {args.command}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a port in use, a full disk, a folder we may not write
        print(f"lookalike {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
