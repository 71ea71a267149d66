"""`lookalike serve`: serve a collection over gRPC."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys

SERVE_EPILOG = """\
Every flag can also be set by its environment variable (LOOKALIKE_PORT, LOOKALIKE_MAX_K, ...);
a flag wins over the environment. SIGTERM or SIGINT stops the server gracefully: health turns
NOT_SERVING, new calls get UNAVAILABLE, in-flight calls get --grace seconds to finish, and the
collection is closed durably before the process exits 0. One log line per call (method, code,
duration, peer) goes to stderr unless --quiet.

With --processes N above 1, N worker processes serve the one port (SO_REUSEPORT), each
with its own model; the parent holds the collection, restarts a worker that dies, serves
the metrics of all of them, and relays SIGTERM to every worker. See docs/production.md.
"""


def cmd_serve(args: argparse.Namespace) -> int:
    """Serves; a setting that cannot work (out of range, an address that cannot be bound,
    unreadable token or TLS files) exits 2 with its message, like a flag argparse refuses.
    """
    from lookalike.common.errors import CollectionLocked, InvalidArgument
    from lookalike.server.options import config_from_args, default_processes
    from lookalike.server.runtime import limit_threads

    try:
        config = config_from_args(args)
        # Before the encoder, and before any worker process, which inherits the settings.
        limit_threads(config.encoder_threads, config.search_threads)
        if not args.quiet:
            logging.getLogger("lookalike.server").setLevel(logging.INFO)
            logging.getLogger().setLevel(min(logging.getLogger().level, logging.INFO))
        processes = config.processes or default_processes()
        announce = lambda port: print(f"lookalike serving on {config.host}:{port}",  # noqa: E731
                                      flush=True)
        announce, stop_ui = _with_ui(args, config, announce)
        try:
            if processes == 1:
                from lookalike.server.grpc_server import serve

                return serve(args.collection, config, ready=announce)
            return _serve_group(args, config, processes, announce)
        finally:
            stop_ui()
    except (InvalidArgument, CollectionLocked) as exc:  # a usage error, as a busy port
        print(f"lookalike serve: {exc}", file=sys.stderr)
        return 2


def _with_ui(args: argparse.Namespace, config, announce):
    """With --ui PORT: (announce that also starts the web app once the port serves, its
    stop); without: (announce, a no-op). The app is a client of the served port, with the
    token file's write token (else its read token)."""
    if args.ui is None:
        return announce, lambda: None
    from lookalike.app.ui import ui_config
    from lookalike.clients.channel import make_config
    from lookalike.common.errors import InvalidArgument
    from lookalike.ui.runner import serve_beside

    if config.tls_cert:
        raise InvalidArgument("--ui does not speak TLS to its own server: run `lookalike ui "
                              "--tls --target HOST:PORT` beside it instead")
    token = None
    if config.token_file:
        from lookalike.server.security import load_tokens

        tokens = sorted(load_tokens(config.token_file), key=lambda t: t.scope != "write")
        token = tokens[0].secret.decode()
    host = config.host if config.host not in ("0.0.0.0", "::", "[::]") else "127.0.0.1"

    def config_of(port: int):
        return dataclasses.replace(ui_config(args, f"{host}:{port}", args.ui_host, args.ui),
                                   client=make_config(token=token))

    start, stop = serve_beside(args.ui_host, args.ui, config_of,
                               lambda url: print(f"lookalike ui on {url}", flush=True))

    def both(port: int) -> None:
        announce(port)
        start(port)

    return both, stop


def _serve_group(args: argparse.Namespace, config, processes: int, announce) -> int:
    from lookalike.server.group.supervisor import GroupStartFailed, serve_group

    try:
        return serve_group(args.collection, config, processes, ready=announce,
                           log_level=logging.getLogger().level, quiet=args.quiet)
    except GroupStartFailed as exc:  # a worker's own message and exit code
        print(f"lookalike serve: {exc}", file=sys.stderr)
        return exc.code


def serve_flags(p: argparse.ArgumentParser) -> None:
    from lookalike.app.ui import add_web_flags
    from lookalike.server.options import add_arguments

    p.add_argument("collection", help="the collection folder")
    p.add_argument("--quiet", action="store_true", help="no per-call log lines")
    add_arguments(p)
    p.add_argument("--ui", type=int, default=None, metavar="PORT",
                   help="also serve the web app on this HTTP port (see `lookalike ui`)")
    p.add_argument("--ui-host", default="127.0.0.1",
                   help="address the web app listens on (default 127.0.0.1)")
    add_web_flags(p)
