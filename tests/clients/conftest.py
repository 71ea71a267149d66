"""Client-test fixtures: one read-only server per session, server subprocesses, and
either client called the same way."""

from __future__ import annotations

import asyncio
import inspect
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import aclosing, closing
from pathlib import Path
from typing import Any

import pytest

from lookalike.clients import AsyncClient, Client


@pytest.fixture(scope="session")
def shared_target(built_collection: Path, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[str]:
    """A server over a private copy of the small collection, for tests that only read."""
    from lookalike.server.config import ServerConfig
    from lookalike.server.grpc_server import create_server

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
            # One process: the signals these tests send (SIGSTOP, SIGKILL) reach the
            # server itself, not a parent whose workers answer the calls.
            [sys.executable, "-m", "lookalike.app.cli", "serve", str(collection),
             "--port", str(port), "--processes", "1"],
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


class Caller:
    """A Client or an AsyncClient, called the same way, so one test covers both: an
    AsyncClient's coroutines and async iterators run to the end on the Caller's loop."""

    def __init__(self, kind: type[Client] | type[AsyncClient], target: str,
                 **options: Any) -> None:
        self.kind = kind
        self._loop = asyncio.new_event_loop() if kind is AsyncClient else None
        self.client = self._run(lambda: kind(target, **options))

    def _run(self, call: Callable[[], Any]) -> Any:
        """call(), awaited to its value when the client is an AsyncClient."""
        if self._loop is None:
            return call()

        async def awaited() -> Any:
            value = call()
            return await value if inspect.isawaitable(value) else value

        return self._loop.run_until_complete(awaited())

    def __call__(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """The client's method `name` called with args, and its value."""
        return self._run(lambda: getattr(self.client, name)(*args, **kwargs))

    def search_many(self, images: Iterable[Any], each: Callable[[int, Any], bool | None] =
                    lambda n, outcome: None, **kwargs: Any) -> list[Any]:
        """search_many's outcomes; each(count so far, outcome) sees them as they come and
        stops the stream by returning True."""
        outcomes: list[Any] = []

        def take(outcome: Any) -> bool:
            outcomes.append(outcome)
            return bool(each(len(outcomes), outcome))

        if self._loop is None:
            with closing(self.client.search_many(images, **kwargs)) as stream:
                for outcome in stream:
                    if take(outcome):
                        break
            return outcomes

        async def read() -> None:
            async with aclosing(self.client.search_many(images, **kwargs)) as stream:
                async for outcome in stream:
                    if take(outcome):
                        return

        self._loop.run_until_complete(read())
        return outcomes

    def close(self) -> None:
        self._run(self.client.close)
        if self._loop is not None:
            self._loop.close()


@pytest.fixture(params=[Client, AsyncClient], ids=["Client", "AsyncClient"])
def connect(request: pytest.FixtureRequest) -> Iterator[Callable[..., Caller]]:
    """Makes Callers of one client kind per test run (the test runs once per kind)."""
    made: list[Caller] = []

    def make(target: str, **options: Any) -> Caller:
        made.append(Caller(request.param, target, **options))
        return made[-1]

    yield make
    for caller in made:
        caller.close()


def reset_labels(target: str, built: list[str]) -> None:
    """Puts a shared collection back as built (the ids it was built with): the images
    added since deleted, every label, attribute and cluster name cleared (one
    update_many), so tests that change labels can share one Milvus build."""
    from lookalike.clients import ImageEdit

    with Client(target) as client:
        keep = set(built)
        extra = [i.id for i in client.browse_all(page_size=1000) if i.id not in keep]
        if extra:
            client.delete(extra)
        names = {c: "" for c in client.info().cluster_names}
        client.update_many([ImageEdit(i, labels=[], attributes={}) for i in built], names)


@pytest.fixture(scope="module")
def milvus_labelled(milvus_served) -> tuple[str, list[str]]:
    """The module's Milvus server and the ids it was built with."""
    target = milvus_served[1]
    with Client(target) as client:
        return target, [i.id for i in client.browse_all(page_size=1000)]


@pytest.fixture(params=["local", "milvus"])
def label_target(request: pytest.FixtureRequest) -> str:
    """A served collection in its built state: a private local one, or the module's
    Milvus one reset (reset_labels)."""
    if request.param == "local":
        return request.getfixturevalue("served")[1]
    target, built = request.getfixturevalue("milvus_labelled")
    reset_labels(target, built)
    return target
