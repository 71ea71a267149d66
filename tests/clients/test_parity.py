"""Client and AsyncClient: the same signatures, and the same behaviour against a real server.

The behavioural tests take `connect` (tests/clients/conftest.py), so each runs once
with Client and once with AsyncClient, awaited.
"""

from __future__ import annotations

import inspect
import os
import signal
from pathlib import Path

import grpc
import pytest

from lookalike.clients import AsyncClient, Client, RetryPolicy
from lookalike.common.errors import (
    DeadlineExceeded,
    InvalidArgument,
    InvalidImage,
    LookalikeError,
    NotFound,
)

from .conftest import Caller

API = {"search", "search_many", "add", "delete", "info", "health", "input_size", "plot",
       "close", "browse", "browse_all", "count", "get", "update", "name_cluster", "thumbnails",
       "map"}


def public(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_")}


def test_both_clients_have_the_same_public_methods():
    assert public(Client) == public(AsyncClient) == API


@pytest.mark.parametrize("name", sorted(API | {"__init__"}))
def test_signatures_match_in_names_kinds_defaults_and_annotations(name):
    sync = inspect.signature(getattr(Client, name))
    awaited = inspect.signature(getattr(AsyncClient, name))
    described = [(p.name, p.kind, p.default, p.annotation) for p in sync.parameters.values()]
    assert described == [(p.name, p.kind, p.default, p.annotation)
                         for p in awaited.parameters.values()]
    # A coroutine's annotation is its awaited value; only a stream's type differs.
    expected = sync.return_annotation
    if name == "search_many":
        assert expected == "Iterator[SearchResult | LookalikeError]"
        expected = "AsyncIterator[SearchResult | LookalikeError]"
    if name == "browse_all":
        assert expected == "Iterator[Item]"
        expected = "AsyncIterator[Item]"
    assert awaited.return_annotation == expected
    assert getattr(Client, name).__doc__ == getattr(AsyncClient, name).__doc__


def test_search_many_takes_workers_and_a_window_in_both():
    for cls in (Client, AsyncClient):
        parameters = inspect.signature(cls.search_many).parameters
        assert (parameters["window"].default, parameters["workers"].default) == (64, 4)


def test_async_methods_are_coroutines_and_the_streams_iterate():
    for name in API - {"plot", "search_many", "browse_all"}:
        assert inspect.iscoroutinefunction(getattr(AsyncClient, name)), name
        assert not inspect.iscoroutinefunction(getattr(Client, name)), name
    for name in ("search_many", "browse_all"):
        assert inspect.isasyncgenfunction(getattr(AsyncClient, name)), name
        assert inspect.isgeneratorfunction(getattr(Client, name)), name


def test_search_by_image_and_by_id(connect, shared_target, image_folder):
    path = sorted(image_folder.iterdir())[0]
    client = connect(shared_target)
    by_image = client("search", path, k=3)
    by_id = client("search", id="5", k=3)
    assert by_image.neighbors[0].path == str(path.resolve()) and by_image.query == path
    assert by_image.neighbors[0].distance == pytest.approx(0.0, abs=1e-4)
    assert len(by_id.neighbors) == 3 and "5" not in [n.id for n in by_id.neighbors]


def test_search_many_keeps_order_with_bad_rows_in_the_middle(connect, shared_target,
                                                             image_folder):
    paths = [str(p) for p in sorted(image_folder.iterdir())[:9]]
    images = paths[:4] + ["/no/such.png", b"garbage"] + paths[4:]
    outcomes = connect(shared_target).search_many(images, k=2, window=3, workers=2)
    assert [o.query for o in outcomes if not isinstance(o, LookalikeError)] == paths
    assert [o.neighbors[0].path for o in outcomes[:4] + outcomes[6:]] == [
        str(Path(p).resolve()) for p in paths]
    assert isinstance(outcomes[4], NotFound) and "no such file" in str(outcomes[4])
    assert isinstance(outcomes[5], InvalidImage)


def test_search_many_stopped_early_leaves_the_client_usable(connect, shared_target,
                                                            image_folder):
    paths = [str(p) for p in sorted(image_folder.iterdir())] * 3
    client = connect(shared_target)
    first = client.search_many(paths, each=lambda n, outcome: True, k=1, window=4)
    assert len(first) == 1 and first[0].neighbors
    assert client("health") == "SERVING"


def test_search_many_reads_at_most_a_window_ahead(connect, shared_target, image_folder):
    data = sorted(image_folder.iterdir())[0].read_bytes()
    pulled, read_by_first = 0, []

    def images():  # a long input that counts how far it has been read
        nonlocal pulled
        for _ in range(200):
            pulled += 1
            yield data

    outcomes = connect(shared_target).search_many(
        images(), each=lambda n, outcome: read_by_first.append(pulled) if n == 1 else None,
        k=1, window=4)
    assert read_by_first[0] <= 1 + 4  # the row answered, and a window beyond it
    assert len(outcomes) == 200
    assert all(o.neighbors[0].id == outcomes[0].neighbors[0].id for o in outcomes)


def test_search_many_raises_the_inputs_own_error(connect, shared_target, image_folder):
    paths = [str(p) for p in sorted(image_folder.iterdir())[:3]]

    def images():
        yield from paths
        raise ValueError("the manifest broke")

    with pytest.raises(ValueError, match="the manifest broke"):
        connect(shared_target).search_many(images(), k=1, window=8)


def test_add_with_and_without_ids_then_delete_with_missing_ids(connect, served, image_folder):
    _, target = served
    first, second = sorted(image_folder.iterdir())[:2]
    client = connect(target)
    with_ids = client("add", [first, "/no/such.png"], ids=["new-1", "new-2"])
    (without,) = client("add", [second])
    again = client("add", [first], ids=["new-1"])
    assert with_ids[0].id == "new-1" and isinstance(with_ids[1], NotFound)
    assert without.id and without.id != "new-1" and "already in the collection" in str(again[0])
    assert client("info").count == 50
    assert client("delete", ["new-1", without.id, "ghost"]) == (2, ["ghost"])
    assert client("info").count == 48


def test_info_health_and_input_size(connect, shared_target):
    client = connect(shared_target)
    info = client("info")
    assert info.count == 48 and info.clusters == 4 and sum(info.cluster_sizes) == 48
    assert client("input_size") == info.input_size > 0
    assert client("health") == "SERVING"
    assert connect(shared_target, downsize=False)("input_size") is None


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"id": "ghost"}, NotFound, "no image with id 'ghost'"),
        ({"id": "3", "k": 0}, InvalidArgument, "k must be at least 1"),
        ({"vector": [0.0, 1.0]}, InvalidArgument, "the query vector has 2 values"),
        ({}, InvalidArgument, "give exactly one of image, id or vector"),
    ],
)
def test_refusals_are_domain_errors(connect, shared_target, kwargs, error, words):
    with pytest.raises(error) as info:
        connect(shared_target)("search", **kwargs)
    assert type(info.value) is error and not isinstance(info.value, grpc.RpcError)
    assert words in str(info.value)


def test_search_many_resends_unanswered_rows_after_a_restart(connect, server_process,
                                                             image_folder):
    server = server_process()
    paths = [str(p) for p in sorted(image_folder.iterdir())] * 4
    patient = RetryPolicy(attempts=40, initial_backoff_s=0.1, max_backoff_s=0.5)

    def restart_at_20(count: int, outcome: object) -> None:
        if count == 20:
            server.kill()  # rows are in flight: the stream breaks with UNAVAILABLE
            server_process(port=server.port)

    outcomes = connect(server.target, retry=patient).search_many(
        iter(paths), each=restart_at_20, k=2, window=4)
    assert [o.query for o in outcomes] == paths  # each row once, in order, none an error
    assert all(o.neighbors for o in outcomes)


def test_search_many_rows_that_stall_are_deadline_exceeded(connect, server_process,
                                                           image_folder):
    server = server_process()
    paths = [str(p) for p in sorted(image_folder.iterdir())] * 4
    client = connect(server.target, timeout=1.0)
    assert client("health") == "SERVING"

    def silence_at_5(count: int, outcome: object) -> None:
        if count == 5:
            os.kill(server.process.pid, signal.SIGSTOP)  # alive but silent, as when hung

    try:
        with pytest.raises(DeadlineExceeded) as info:
            client.search_many(paths, each=silence_at_5, k=2, window=4)
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
    assert f"no answer from {server.target} for 1s" in str(info.value)


def test_both_clients_give_the_same_answers(shared_target, image_folder):
    paths = [str(p) for p in sorted(image_folder.iterdir())[:8]] + ["/no/such.png"]
    answers = []
    for kind in (Client, AsyncClient):
        caller = Caller(kind, shared_target)
        try:
            answers.append([caller("search", paths[0], k=3), caller("info"),
                            caller.search_many(paths, k=3, window=2)])
        finally:
            caller.close()
    (one, info, many), (one_, info_, many_) = answers
    assert info == info_ and [n.id for n in one.neighbors] == [n.id for n in one_.neighbors]
    assert [[n.id for n in o.neighbors] for o in many[:8]] == [
        [n.id for n in o.neighbors] for o in many_[:8]]
    assert [type(o) for o in many] == [type(o) for o in many_]
