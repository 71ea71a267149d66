"""`lookalike serve`: serve a collection over gRPC."""

from __future__ import annotations

import argparse
import logging
import sys

SERVE_EPILOG = """\
Every flag can also be set by its environment variable (LOOKALIKE_PORT, LOOKALIKE_MAX_K, ...);
a flag wins over the environment. SIGTERM or SIGINT stops the server gracefully: health turns
NOT_SERVING, new calls get UNAVAILABLE, in-flight calls get --grace seconds to finish, and the
collection is closed durably before the process exits 0. One log line per call (method, code,
duration, peer) goes to stderr unless --quiet.
"""


def cmd_serve(args: argparse.Namespace) -> int:
    """Serves; a setting that cannot work (out of range, an address that cannot be bound,
    unreadable token or TLS files) exits 2 with its message, like a flag argparse refuses.
    """
    from lookalike.common.errors import CollectionLocked, InvalidArgument
    from lookalike.server.options import config_from_args
    from lookalike.server.runtime import limit_threads

    try:
        config = config_from_args(args)
        limit_threads(config.encoder_threads, config.search_threads)  # before the encoder
        from lookalike.server.app import serve

        if not args.quiet:
            logging.getLogger("lookalike.server").setLevel(logging.INFO)
            logging.getLogger().setLevel(min(logging.getLogger().level, logging.INFO))
        return serve(args.collection, config,
                     ready=lambda port: print(f"lookalike serving on {config.host}:{port}",
                                              flush=True))
    except (InvalidArgument, CollectionLocked) as exc:  # a usage error, as a busy port
        print(f"lookalike serve: {exc}", file=sys.stderr)
        return 2


def serve_flags(p: argparse.ArgumentParser) -> None:
    from lookalike.server.options import add_arguments

    p.add_argument("collection", help="the collection folder")
    p.add_argument("--quiet", action="store_true", help="no per-call log lines")
    add_arguments(p)
