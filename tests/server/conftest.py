"""Server test helpers: servers with chosen settings, stubs, and encoded test images."""

from __future__ import annotations

import io
import queue
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import numpy as np
import pytest
from PIL import Image

from lookalike.proto.v1 import lookalike_pb2 as pb
from lookalike.proto.v1 import lookalike_pb2_grpc as pb_grpc
from lookalike.server.config import ServerConfig
from lookalike.server.grpc_server import Running, create_server


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def photo(size: int = 96, seed: int = 1) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))


@contextmanager
def running_server(collection: Path, **settings: object) -> Iterator[tuple[Running, str]]:
    """A server on a free loopback port with the given ServerConfig fields.

    It serves a private copy of the collection: a server holds its folder's lock, and these
    servers (some module-wide) overlap on the session's one collection.
    """
    with tempfile.TemporaryDirectory(prefix="served-") as tmp:
        folder = shutil.copytree(collection, Path(tmp) / "c")
        running = create_server(folder, ServerConfig(port=0, **settings))  # type: ignore[arg-type]
        try:
            yield running, f"127.0.0.1:{running.port}"
        finally:
            running.stop(grace_s=1)


@pytest.fixture(scope="session")
def shared_server(built_collection: Path) -> Iterator[tuple[Running, str]]:
    """One default server over the session's collection, for tests that only read."""
    with running_server(built_collection) as pair:
        yield pair


@pytest.fixture
def stub_for() -> Iterator[Callable[[str], pb_grpc.LookalikeStub]]:
    """Makes stubs on plaintext channels that are closed after the test."""
    channels: list[grpc.Channel] = []

    def make(target: str) -> pb_grpc.LookalikeStub:
        channel = grpc.insecure_channel(target)
        channels.append(channel)
        return pb_grpc.LookalikeStub(channel)

    yield make
    for channel in channels:
        channel.close()


@pytest.fixture
def stub(shared_server: tuple[Running, str], stub_for) -> pb_grpc.LookalikeStub:
    return stub_for(shared_server[1])


@contextmanager
def one_slot_held(collection: Path, stub_for: Callable[[str], pb_grpc.LookalikeStub],
                  image: bytes) -> Iterator[tuple[Running, str, pb_grpc.LookalikeStub,
                                                  Callable[[], None]]]:
    """A server limited to one concurrent call, that call a SearchStream kept open.

    Yields (running, target, stub, release): release() closes the stream, which must end
    cleanly; it runs on exit if the test did not call it.
    """
    with running_server(collection, max_concurrent_rpcs=1) as (running, target):
        stub = stub_for(target)
        outbox: queue.Queue = queue.Queue()
        holding = stub.SearchStream(iter(outbox.get, None), timeout=60)
        outbox.put(pb.SearchStreamRequest(tag="a", request=pb.SearchRequest(image=image, k=1)))
        assert next(holding).tag == "a"  # the stream is running and holds the one slot
        released = []

        def release() -> None:
            if not released:
                released.append(True)
                outbox.put(None)
                assert list(holding) == []

        yield running, target, stub, release
        release()
