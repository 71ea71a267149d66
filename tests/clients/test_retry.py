"""Backoff and retries while the server is UNAVAILABLE, for idempotent calls only."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from lookalike.clients import RetryPolicy
from lookalike.clients.messages import add_is_idempotent
from lookalike.common.errors import Unavailable
from lookalike.server.config import ServerConfig
from lookalike.server.grpc_server import create_server

PATIENT = RetryPolicy(attempts=12, initial_backoff_s=0.1, max_backoff_s=0.5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def late_server(collection_copy):
    """A port whose server starts 0.5 s from now; yields the target."""
    port = free_port()
    started = []

    def start() -> None:
        time.sleep(0.5)
        started.append(create_server(collection_copy, ServerConfig(port=port)))

    thread = threading.Thread(target=start)
    thread.start()
    yield f"127.0.0.1:{port}"
    thread.join()
    for running in started:
        running.stop(grace_s=0)


def test_policy_delays_grow_to_the_cap_and_count_the_attempts():
    policy = RetryPolicy(attempts=6, initial_backoff_s=0.1, max_backoff_s=0.4, jitter=0.0)
    assert list(policy.delays()) == [0.1, 0.2, 0.4, 0.4, 0.4]
    assert list(RetryPolicy(attempts=1).delays()) == []
    with pytest.raises(ValueError, match="attempts must be at least 1, got 0"):
        RetryPolicy(attempts=0)


def test_idempotent_calls_wait_for_a_server_that_comes_up(connect, late_server, image_folder):
    client = connect(late_server, retry=PATIENT)
    assert client("search", sorted(image_folder.iterdir())[0], k=2).neighbors
    assert client("info").count == 48


def test_add_without_ids_is_not_retried(connect, late_server, image_folder):
    # downsize=False: otherwise Info (retried) would run first and wait for the server.
    client = connect(late_server, retry=PATIENT, downsize=False)
    with pytest.raises(Unavailable):
        client("add", [sorted(image_folder.iterdir())[0]])
    assert not add_is_idempotent([None]) and add_is_idempotent(["a", "b"])


def test_add_with_ids_is_retried(connect, late_server, image_folder):
    client = connect(late_server, retry=PATIENT, downsize=False)
    (added,) = client("add", [sorted(image_folder.iterdir())[0]], ids=["late-1"])
    assert added.id == "late-1"


def test_a_write_into_a_stream_that_just_broke_is_unavailable_not_internal():
    """grpc.aio reports a stream write into a connection that just failed as INTERNAL
    "Internal error from Core" before the real status (UNAVAILABLE) arrives; an Add to a
    server that is not up yet raised INTERNAL, not retried, depending on timing."""
    import grpc

    from lookalike.clients.retry import retry_delay, stream_lost

    lost = grpc.aio.AioRpcError(grpc.StatusCode.INTERNAL, grpc.aio.Metadata(),
                                grpc.aio.Metadata(), details="Internal error from Core")
    assert stream_lost(lost)
    assert retry_delay(lost, iter([0.25]), retryable=True, target="t", what="add") == 0.25
    with pytest.raises(Unavailable, match="t: the connection broke during add"):
        retry_delay(lost, iter([]), retryable=True, target="t", what="add")
    with pytest.raises(Unavailable):
        retry_delay(lost, iter([]), retryable=False, target="t", what="add")
