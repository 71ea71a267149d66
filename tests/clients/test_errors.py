"""Each gRPC failure comes back as lookalike's own exception, tested against real servers."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from lookalike.clients import Client, RetryPolicy
from lookalike.clients.retry import NO_RETRY
from lookalike.common.errors import (
    AlreadyExists,
    DeadlineExceeded,
    ImageTooLarge,
    InvalidArgument,
    InvalidImage,
    NotFound,
    ResourceExhausted,
    Unavailable,
)
from lookalike.server.config import ServerConfig
from lookalike.server.grpc_server import create_server


@pytest.fixture
def start(collection_copy: Path):
    """Starts a server over the private collection with the given config fields."""
    running = []

    def start_server(**fields) -> str:
        running.append(create_server(collection_copy, ServerConfig(port=0, **fields)))
        return f"127.0.0.1:{running[-1].port}"

    yield start_server
    for server in running:
        server.stop(grace_s=1)


def first(image_folder: Path) -> Path:
    return sorted(image_folder.iterdir())[0]


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"image": b"\x89PNG garbage" * 10}, InvalidImage, "not an image Pillow can read"),
        ({"id": "3", "k": 10**6}, InvalidArgument, "k must be at most 1000"),
        ({"id": "no-such-id"}, NotFound, "no image with id 'no-such-id'"),
        ({"vector": [0.0, 1.0]}, InvalidArgument, "the query vector has 2 values"),
    ],
)
def test_server_refusals_keep_their_class_and_message(shared_target, kwargs, error, words):
    with Client(shared_target) as client, pytest.raises(error) as info:
        client.search(**kwargs)
    assert type(info.value) is error and words in str(info.value)


def test_image_over_the_pixel_cap_is_image_too_large(start, image_folder):
    target = start(max_pixels=1000)
    with Client(target, downsize=False) as client, pytest.raises(ImageTooLarge) as info:
        client.search(first(image_folder))
    assert "96x96 = 9,216 pixels, over the cap of 1,000" in str(info.value)


def test_message_over_the_server_limit_is_resource_exhausted(start):
    target = start(max_message_bytes=4096)
    with Client(target, downsize=False) as client, pytest.raises(ResourceExhausted) as info:
        client.search(b"\xff" * 10_000)
    assert "RESOURCE_EXHAUSTED" in str(info.value)


def test_duplicate_id_is_already_exists(served, image_folder):
    _, target = served
    with Client(target) as client:
        (answer,) = client.add([first(image_folder)], ids=["3"])
    assert isinstance(answer, AlreadyExists) and "id '3' is already in" in str(answer)


def test_no_server_is_unavailable():
    with Client("127.0.0.1:9", retry=NO_RETRY) as client, pytest.raises(Unavailable) as info:
        client.info()
    assert "the server at 127.0.0.1:9 is unavailable" in str(info.value)


def test_a_silent_server_is_deadline_exceeded(server_process):
    server = server_process()
    with Client(server.target, timeout=0.5) as client:
        assert client.health() == "SERVING"
        os.kill(server.process.pid, signal.SIGSTOP)  # alive but silent, as when hung
        try:
            with pytest.raises(DeadlineExceeded) as info:
                client.search(id="3")
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
    assert f"no answer from {server.target} before the deadline" in str(info.value)


def test_a_stopped_server_is_unavailable_after_the_retries(collection_copy):
    running = create_server(collection_copy, ServerConfig(port=0))
    target = f"127.0.0.1:{running.port}"
    with Client(target, retry=RetryPolicy(attempts=2, initial_backoff_s=0.05)) as client:
        assert client.health() == "SERVING"
        running.stop(grace_s=0)
        with pytest.raises(Unavailable) as info:
            client.info()
    assert f"the server at {target} is unavailable" in str(info.value)
