"""Running the web app on uvicorn: in the foreground (`lookalike ui`) or on a thread beside a
gRPC server (`lookalike serve --ui`)."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from typing import Any

from lookalike.common.errors import Unavailable
from lookalike.ui.config import UiConfig

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'lookalike[ui]'"


def require_web_packages() -> None:
    """Raises Unavailable, naming the extra to install, when starlette or uvicorn is missing."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise Unavailable(f"the web app needs {exc.name}, which is not installed: "
                          f"{INSTALL_HINT}") from None


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (IPv4 or IPv6 as the address says)."""
    bare = host[1:-1] if host.startswith("[") else host
    family = socket.AF_INET6 if ":" in bare else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((bare, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    return sock


def address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}"


class WebApp:
    """The app bound to its socket (so the address is known, and a busy port fails, before it
    runs); run() serves in this thread until stop()."""

    def __init__(self, config: UiConfig, sock: socket.socket | None = None) -> None:
        require_web_packages()
        import uvicorn

        from lookalike.ui.app import create_app

        self.sock = sock or bind(config.host, config.port)
        self.url = address(self.sock)
        self.server = uvicorn.Server(uvicorn.Config(
            create_app(config), log_level="warning", lifespan="on", access_log=False,
            timeout_graceful_shutdown=2))
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        """Serves until stop() (or, in the main thread, SIGINT / SIGTERM)."""
        try:
            self.server.run(sockets=[self.sock])
        finally:
            self.sock.close()

    def start(self) -> WebApp:
        """Serves on a daemon thread; returns at once."""
        self._thread = threading.Thread(target=self.run, name="lookalike-ui", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout_s)


def serve_beside(host: str, port: int, config_of: Callable[[int], UiConfig],
                 announce: Callable[[str], Any]
                 ) -> tuple[Callable[[int], None], Callable[[], None]]:
    """For `serve --ui`: binds host:port now (a busy port fails before the server loads),
    and returns (a ready(grpc_port) hook that starts the app on it, a stop())."""
    require_web_packages()
    sock = bind(host, port)
    started: list[WebApp] = []

    def ready(grpc_port: int) -> None:
        app = WebApp(config_of(grpc_port), sock).start()
        started.append(app)
        announce(app.url)

    def stop() -> None:
        for app in started:
            app.stop()
        sock.close()

    return ready, stop
