"""Client-test fixtures: one read-only server per session, and server subprocesses."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_target(built_collection: Path, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[str]:
    """A server over a private copy of the small collection, for tests that only read."""
    from lookalike.server.app import create_server
    from lookalike.server.config import ServerConfig

    folder = Path(shutil.copytree(built_collection, tmp_path_factory.mktemp("ro") / "c"))
    running = create_server(folder, ServerConfig(port=0))
    try:
        yield f"127.0.0.1:{running.port}"
    finally:
        running.stop(grace_s=1)


class ServerProcess:
    """`lookalike serve` in a subprocess, so a test can kill it like a crash would."""

    def __init__(self, collection: Path, port: int = 0) -> None:
        self.collection = collection
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lookalike.clients.cli", "serve", str(collection),
             "--port", str(port)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.process.stdout.readline()  # "lookalike serving on HOST:PORT"
        if "serving on" not in line:
            self.process.kill()
            raise RuntimeError(f"the server did not start: {line!r}")
        self.target = line.rsplit(" ", 1)[1].strip()
        self.port = int(self.target.rsplit(":", 1)[1])

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=30)


@pytest.fixture
def server_process(collection_copy: Path) -> Iterator[type[ServerProcess]]:
    """Starts ServerProcess instances on demand and kills whatever is left at the end."""
    started: list[ServerProcess] = []

    def start(port: int = 0) -> ServerProcess:
        server = ServerProcess(collection_copy, port)
        started.append(server)
        return server

    yield start  # type: ignore[misc]
    for server in started:
        if server.process.poll() is None:
            server.kill()


def wait_for_lines(path: Path, count: int, timeout_s: float = 60.0) -> None:
    """Waits until path holds at least count complete lines."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"{path} did not reach {count} lines in {timeout_s}s")
