"""`lookalike ui`: the web app, a browser front end to a running server."""

from __future__ import annotations

import argparse
import signal
import threading

from lookalike.app.flags import add_connection_args, client_options, positive_int

UI_EPILOG = """\
The web app is a client of the server's gRPC API, like `lookalike search`: it reads nothing
from the collection folder, so it works against a Milvus-mode collection and against
`serve --processes N`. The token (--token or $LOOKALIKE_TOKEN) stays in this process: it is
sent to the server, never to the browser; give a write token to label and rename. It listens
on 127.0.0.1 unless --host says otherwise; `lookalike serve DIR --ui PORT` starts the server
and the app together. See docs/ui.md.
"""


def ui_config(args: argparse.Namespace, target: str, host: str, port: int) -> object:
    """The UiConfig the flags ask for (the connection flags as every command reads them)."""
    from lookalike.clients.channel import make_config
    from lookalike.ui.config import UiConfig

    options = client_options(args) if hasattr(args, "target") else {}
    return UiConfig(target=target, client=make_config(**options), host=host, port=port,
                    allowed_hosts=tuple(getattr(args, "allow_host", None) or ()),
                    max_upload_bytes=getattr(args, "max_upload_mb", 16) * 1024 * 1024,
                    fetch_private=getattr(args, "fetch_private", False))


def cmd_ui(args: argparse.Namespace) -> int:
    from lookalike.ui.runner import WebApp, require_web_packages

    require_web_packages()
    app = WebApp(ui_config(args, args.target, args.host, args.port))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):  # like serve: a signal is a clean exit 0
        signal.signal(sig, lambda *_: stop.set())
    app.start()
    print(f"lookalike ui on {app.url} (server {args.target})", flush=True)
    while not stop.wait(0.5):
        pass
    app.stop()
    return 0


def ui_flags(p: argparse.ArgumentParser) -> None:
    add_connection_args(p)
    p.add_argument("--port", type=int, default=8080, help="HTTP port (default 8080; 0: any)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    add_web_flags(p)


def add_web_flags(p: argparse.ArgumentParser) -> None:
    """The web app's own flags, shared by `ui` and `serve --ui`."""
    p.add_argument("--allow-host", action="append", metavar="NAME",
                   help="a host name the app may be reached by besides its address (repeat)")
    p.add_argument("--max-upload-mb", type=positive_int, default=16,
                   help="largest query image a page may upload, MiB (default 16)")
    p.add_argument("--fetch-private", action="store_true",
                   help="let search-by-URL fetch loopback and private addresses")
