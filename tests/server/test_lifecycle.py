"""Health while loading, graceful shutdown in-process, and SIGTERM on a real `lookalike serve`."""

from __future__ import annotations

import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from lookalike.common.errors import LookalikeError
from lookalike.indexer.local.collection import Collection
from lookalike.proto.v1 import lookalike_pb2 as pb
from lookalike.proto.v1 import lookalike_pb2_grpc as pb_grpc
from lookalike.server.config import ServerConfig
from lookalike.server.grpc_server import create_server

from .conftest import encode, photo

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def health_of(channel: grpc.Channel) -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    return stub.Check(health_pb2.HealthCheckRequest(), timeout=10).status


def wait_for(condition, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def test_not_serving_and_unavailable_until_the_model_is_warm(built_collection):
    running = create_server(built_collection, ServerConfig(port=0), wait=False)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            # Loading (checkpoint, compilation, bucket timing) takes far longer than this.
            assert health_of(channel) == NOT_SERVING
            with pytest.raises(grpc.RpcError) as info:
                pb_grpc.LookalikeStub(channel).Info(pb.InfoRequest(), timeout=10)
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "still loading" in info.value.details()
            running.wait_ready(timeout=120)
            assert health_of(channel) == SERVING
    finally:
        running.stop(1)


def test_a_collection_that_cannot_load_fails_startup_and_frees_the_port(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(LookalikeError):
        create_server(tmp_path / "nothing-here", ServerConfig(port=port))
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))  # would fail while the server still listened
        again.listen()


def open_stream(stub: pb_grpc.LookalikeStub, data: bytes):
    outbox: queue.Queue = queue.Queue()
    answers = stub.SearchStream(iter(outbox.get, None), timeout=120)

    def ask(tag: str) -> pb.SearchStreamResponse:
        outbox.put(pb.SearchStreamRequest(tag=tag, request=pb.SearchRequest(image=data, k=1)))
        return next(answers)

    def close() -> list:
        outbox.put(None)
        return list(answers)

    return ask, close


def test_stopping_refuses_new_calls_but_finishes_in_flight_ones(collection_copy, image_folder):
    data = sorted(image_folder.iterdir())[0].read_bytes()
    running = create_server(collection_copy, ServerConfig(port=0))
    target = f"127.0.0.1:{running.port}"
    with grpc.insecure_channel(target) as channel, grpc.insecure_channel(target) as other:
        ask, close = open_stream(pb_grpc.LookalikeStub(channel), data)
        assert ask("before").tag == "before"
        health_of(other)  # the second channel is connected before the stop
        stopper = threading.Thread(target=running.stop, args=(30, 1.0))
        stopper.start()
        wait_for(lambda: health_of(other) == NOT_SERVING)
        with pytest.raises(grpc.RpcError) as info:
            pb_grpc.LookalikeStub(other).Search(pb.SearchRequest(id="1", k=1), timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "shutting down" in info.value.details()
        answer = ask("in-flight")  # the running stream is still answered
        assert answer.tag == "in-flight" and answer.response.neighbors
        assert close() == []
        stopper.join(timeout=30)
        assert not stopper.is_alive()


def serve_process(collection: Path) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "lookalike.app.cli", "serve", str(collection),
               "--port", "0", "--grace", "20", "--drain", "1.5"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    line = process.stdout.readline() if process.stdout else ""
    assert "serving on" in line, process.stderr.read() if process.stderr else line
    return process, line.strip().rsplit(" ", 1)[-1]


def test_sigterm_drains_in_flight_calls_keeps_writes_and_exits_zero(collection_copy,
                                                                     image_folder):
    data = sorted(image_folder.iterdir())[0].read_bytes()
    process, target = serve_process(collection_copy)
    try:
        with grpc.insecure_channel(target) as channel:
            stub = pb_grpc.LookalikeStub(channel)
            added = list(stub.Add(iter([pb.AddRequest(
                tag="n", image=encode(photo(seed=77), "PNG"), path="/p77", id="p77")]),
                timeout=60))
            assert added[0].id == "p77"
            ask, close = open_stream(stub, data)
            assert ask("first").response.neighbors
            process.send_signal(signal.SIGTERM)
            wait_for(lambda: health_of(channel) == NOT_SERVING)
            with pytest.raises(grpc.RpcError) as info:
                stub.Search(pb.SearchRequest(id="1", k=1), timeout=10)
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "shutting down" in info.value.details()
            time.sleep(2)  # past the drain: the port is closed, the stream still runs
            answer = ask("after-sigterm")
            assert answer.tag == "after-sigterm" and answer.response.neighbors
            assert close() == []
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stderr = process.stderr.read() if process.stderr else ""
    assert "Traceback" not in stderr
    assert "code=OK" in stderr  # the per-call log lines
    reopened = Collection.open(collection_copy)
    try:
        assert reopened.lookup("p77")[0].path == "/p77"
    finally:
        reopened.close()
