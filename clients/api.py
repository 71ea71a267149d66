"""The SDK's public methods, written once for Client and AsyncClient.

Each method checks its arguments, builds its requests, decides about retries and
converts the answers; whatever needs I/O it yields as a step (steps.py), which Client
does by blocking and AsyncClient by awaiting. search_many's window lives in window.py.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from lookalike.clients.channel import ClientConfig, make_config
from lookalike.clients.errors import from_row_error
from lookalike.clients.images import prepare
from lookalike.clients.messages import add_is_idempotent, add_plan, check_query, search_request
from lookalike.clients.methods import method, stream
from lookalike.clients.prefetch import prepare_row
from lookalike.clients.results import Added, CollectionInfo, SearchResult
from lookalike.clients.retry import NO_RETRY, RetryPolicy, is_retryable, retry_delay
from lookalike.clients.steps import (
    AddStream,
    Call,
    Emit,
    Emits,
    Feed,
    Open,
    Receive,
    Sleep,
    Steps,
    Work,
)
from lookalike.clients.window import Window
from lookalike.common.errors import LookalikeError
from lookalike.proto.v1 import lookalike_pb2 as pb
from lookalike.proto.v1 import lookalike_pb2_grpc as pb_grpc

logger = logging.getLogger(__name__)

# The public stream annotations (methods.py) name these; get_type_hints looks here.
STREAM_TYPES = (Iterator, AsyncIterator)


class Api:
    """What Client and AsyncClient share: settings, channel, stubs and every method."""

    def __init__(self, target: str, *, config: ClientConfig | None = None,
                 **options: Any) -> None:
        """Opens a channel to target ("host:port").

        Args:
            target: the server's address.
            config: a ready ClientConfig; otherwise built from options.
            **options: make_config's keywords: timeout, token, tls, root_certificates
                (PEM bytes or a file), tls_server_name, retry, downsize, fetch.
        """
        self.target = target
        self.config = config or make_config(**options)
        self._channel = self._open_channel(target, self.config)
        stub, health = pb_grpc.LookalikeStub(self._channel), health_pb2_grpc.HealthStub(
            self._channel)
        self._rpcs: dict[str, Callable[..., Any]] = {
            "Search": stub.Search, "Delete": stub.Delete, "Info": stub.Info,
            "Check": health.Check, "Add": stub.Add, "SearchStream": stub.SearchStream}
        self._metadata = self.config.metadata or None
        self._size: int | None = None

    @staticmethod
    def _open_channel(target: str, config: ClientConfig) -> Any:
        raise NotImplementedError

    def _timeout(self, timeout: float | None) -> float:
        return timeout or self.config.timeout_s

    def _retrying(self, attempt: Callable[[], Steps[Any]], what: str,
                  policy: RetryPolicy | None = None) -> Steps[Any]:
        """attempt()'s steps, run again after each UNAVAILABLE as the policy allows."""
        delays = (policy or self.config.retry).delays()
        while True:
            try:
                return (yield from attempt())
            except grpc.RpcError as err:
                yield Sleep(retry_delay(err, delays, retryable=is_retryable(err),
                                        target=self.target, what=what))

    def _unary(self, rpc: str, request: Any, timeout: float | None, what: str) -> Steps[Any]:
        def attempt() -> Steps[Any]:
            return (yield Call(rpc, request, self._timeout(timeout)))
        return (yield from self._retrying(attempt, what))

    def _info(self, timeout: float | None = None) -> Steps[CollectionInfo]:
        response = yield from self._unary("Info", pb.InfoRequest(), timeout, "info")
        return CollectionInfo.from_proto(response)

    def _input_size(self) -> Steps[int | None]:
        if self.config.downsize and self._size is None:
            self._size = (yield from self._info()).input_size or None
        return self._size if self.config.downsize else None

    @method
    def input_size(self) -> Steps[int | None]:
        """The side the served model wants images at, when downsizing is on (cached)."""
        return (yield from self._input_size())

    @method
    def search(
        self, image: Any = None, *, id: str | None = None,
        vector: Sequence[float] | None = None, k: int = 10, nprobe: int | None = None,
        timeout: float | None = None,
    ) -> Steps[SearchResult]:
        """The k images most like the query: a path, URL, bytes, PIL image or array, an
        `id=` of a stored image (left out of its own result), or a raw `vector=`."""
        check_query(image, id, vector)
        data = None
        if image is not None:
            size = yield from self._input_size()
            data = yield Work(prepare, (image, size, self.config.fetch))
        request = search_request(data, id=id, vector=vector, k=k, nprobe=nprobe)
        response = yield from self._unary("Search", request, timeout, "search")
        return SearchResult.from_proto(response, query=id if id is not None else image)

    @stream
    def search_many(
        self, images: Iterable[Any] | AsyncIterable[Any], *, k: int = 10,
        nprobe: int | None = None, timeout: float | None = None, window: int = 64,
        workers: int = 4,
    ) -> Emits[SearchResult | LookalikeError]:
        """Searches many images over one stream; yields, in input order, a result or the
        row's error, so one bad image does not stop the rest.

        Lazy: `images` (an iterable, possibly endless; AsyncClient also takes an async
        iterable) is read only as rows are needed, so results come while later rows are
        unread. Images are read, fetched and downsized in `workers` threads while earlier
        ones are on the wire; at most `window` rows are read ahead of the caller
        (prepared, in flight, or answered before an earlier row). If the stream breaks
        with UNAVAILABLE the unanswered rows are sent again after a backoff; `timeout` is
        the longest wait for an answer while rows are in flight.
        """
        size = yield from self._input_size()
        state = Window(k=k, nprobe=nprobe, size=window, target=self.target,
                       stall_timeout_s=self._timeout(timeout), retry=self.config.retry)
        yield Feed(state, images, partial(prepare_row, size=size, limits=self.config.fetch),
                   max(1, workers))
        while True:
            yield Open(state.attempt)
            try:
                yield from _answers(state)
            except grpc.RpcError as err:
                yield Sleep(state.retry_after(err))
                continue
            if state.finished:
                return
            raise state.ended_early()

    @method
    def add(
        self, images: Iterable[Any], ids: Iterable[str | None] | None = None,
        paths: Iterable[str] | None = None, timeout: float | None = None,
    ) -> Steps[list[Added | LookalikeError]]:
        """Adds images; each comes back as Added (durable) or the error that refused it.

        Retried on UNAVAILABLE only when every image has an id: the images not yet
        acknowledged are sent again, and one stored by an attempt whose answer was lost
        comes back as AlreadyExists rather than as a second copy. Without ids a retry
        could store duplicates, so the error is raised instead. `timeout` is the
        deadline of the whole call.
        """
        images = list(images)
        ids_, paths_ = add_plan(images, None if ids is None else list(ids),
                                None if paths is None else list(paths))
        size = (yield from self._input_size()) if images else None
        ready = yield Work(_prepare_all, (images, size, self.config.fetch))
        answers: dict[int, Added | LookalikeError] = {
            p.row: p.error for p in ready if p.error is not None}

        def record(item: pb.AddResponse) -> None:
            answers[int(item.tag)] = (from_row_error(item.error) if item.HasField("error")
                                      else Added(item.id, item.cluster))

        def attempt() -> Steps[None]:
            todo = [pb.AddRequest(tag=str(p.row), image=p.data, path=paths_[p.row],
                                  id=ids_[p.row] or "") for p in ready if p.row not in answers]
            if todo:
                yield AddStream(todo, self._timeout(timeout), record)

        policy = self.config.retry if add_is_idempotent(ids_) else NO_RETRY
        yield from self._retrying(attempt, "add", policy)
        return [answers[n] for n in range(len(images))]

    @method
    def delete(self, ids: Iterable[str], timeout: float | None = None
               ) -> Steps[tuple[int, list[str]]]:
        """Deletes ids; returns (how many were deleted, the ids that were not there).

        Retried on UNAVAILABLE: deleting twice is harmless, though ids deleted by an
        attempt whose answer was lost are then reported as missing.
        """
        request = pb.DeleteRequest(ids=list(ids))
        response = yield from self._unary("Delete", request, timeout, "delete")
        return response.deleted, list(response.missing)

    @method
    def info(self, timeout: float | None = None) -> Steps[CollectionInfo]:
        """What is served: model, input size, counts, clusters, versions."""
        return (yield from self._info(timeout))

    @method
    def health(self, timeout: float | None = None) -> Steps[str]:
        """The standard health status: "SERVING", "NOT_SERVING", ..."""
        request = health_pb2.HealthCheckRequest()
        response = yield from self._unary("Check", request, timeout, "health")
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)

    @staticmethod
    def plot(result: SearchResult, path: str | Path, **options: Any) -> Path:
        """Writes a PNG of the query beside its neighbours (lookalike.present.plot.plot_result)."""
        from lookalike.present.plot import plot_result

        return plot_result(result, path, **options)


def _answers(state: Window) -> Emits[SearchResult | LookalikeError]:
    """The outcomes the open stream brings, in input order, until the server ends it."""
    while True:
        state.listen()
        response = yield Receive()
        if response is None:
            return
        for outcome in state.answer(response):
            yield Emit(outcome)


def _prepare_all(images: list[Any], size: int | None, limits: Any) -> list[Any]:
    """Every image read and downsized, or its error; run as one blocking step."""
    return [prepare_row(n, image, size, limits) for n, image in enumerate(images)]
