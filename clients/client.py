"""The synchronous Python SDK."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from lookalike.clients.channel import ClientConfig, make_config, open_channel
from lookalike.clients.errors import from_row_error, from_rpc_error
from lookalike.clients.images import prepare
from lookalike.clients.messages import add_is_idempotent, add_plan, check_query, search_request
from lookalike.clients.prefetch import prefetched, prepare_row
from lookalike.clients.results import Added, CollectionInfo, SearchResult
from lookalike.clients.retry import NO_RETRY, call_with_retry
from lookalike.clients.stream import WindowedStream
from lookalike.common.errors import LookalikeError
from lookalike.proto.v1 import lookalike_pb2 as pb
from lookalike.proto.v1 import lookalike_pb2_grpc as pb_grpc

logger = logging.getLogger(__name__)

__all__ = ["Client", "search_request"]


class Client:
    """Talks to a lookalike server.

    Every call has a deadline (`timeout`, 30 s by default). search, search_many, info,
    health and delete are retried with backoff while the server is UNAVAILABLE; add
    only when every image has an id (see `add`).

    Example:
        with Client("127.0.0.1:50051") as client:
            for n in client.search("photo.jpg", k=5).neighbors:
                print(n.id, n.path, n.distance)

        Client("search.example.com:443", tls=True, token="s3cret")
    """

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
        self._channel = open_channel(target, self.config)
        self._stub = pb_grpc.LookalikeStub(self._channel)
        self._size: int | None = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def _unary(self, method: Any, request: Any, timeout: float | None, what: str) -> Any:
        call = partial(method, request, timeout=timeout or self.config.timeout_s,
                       metadata=self.config.metadata or None)
        try:
            return call_with_retry(call, self.config.retry, what)
        except grpc.RpcError as err:
            raise from_rpc_error(err, self.target) from None

    def input_size(self) -> int | None:
        """The side the served model wants images at, when downsizing is on (cached)."""
        if not self.config.downsize:
            return None
        if self._size is None:
            self._size = self.info().input_size or None
        return self._size

    def search(
        self, image: Any = None, *, id: str | None = None,
        vector: Sequence[float] | None = None, k: int = 10, nprobe: int | None = None,
        timeout: float | None = None,
    ) -> SearchResult:
        """The k images most like the query: a path, URL, bytes, PIL image or array, an
        `id=` of a stored image (left out of its own result), or a raw `vector=`."""
        check_query(image, id, vector)
        data = None if image is None else prepare(image, self.input_size(), self.config.fetch)
        request = search_request(data, id=id, vector=vector, k=k, nprobe=nprobe)
        response = self._unary(self._stub.Search, request, timeout, "search")
        return SearchResult.from_proto(response, query=id if id is not None else image)

    def search_many(
        self, images: Iterable[Any], *, k: int = 10, nprobe: int | None = None,
        timeout: float | None = None, window: int = 64, workers: int = 4,
    ) -> Iterator[SearchResult | LookalikeError]:
        """Searches many images over one stream; yields, in input order, a result or the
        row's error, so one bad image does not stop the rest.

        Images are read, fetched and downsized in `workers` threads while earlier ones
        are on the wire; at most `window` rows are in flight. If the stream breaks with
        UNAVAILABLE the unanswered rows are sent again after a backoff; `timeout` is the
        longest wait for an answer while rows are in flight.
        """
        size, limits = self.input_size(), self.config.fetch
        rows = prefetched(images, lambda row, image: prepare_row(row, image, size, limits),
                          workers=workers, lookahead=window + workers)
        open_call = partial(self._stub.SearchStream, metadata=self.config.metadata or None)
        stream = WindowedStream(
            open_call, rows, k=k, nprobe=nprobe or 0, window=window, retry=self.config.retry,
            stall_timeout_s=timeout or self.config.timeout_s, target=self.target)
        for _, outcome in stream:
            yield outcome

    def add(
        self, images: Iterable[Any], ids: Iterable[str | None] | None = None,
        paths: Iterable[str] | None = None, timeout: float | None = None,
    ) -> list[Added | LookalikeError]:
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
        size = self.input_size() if images else None
        answers: dict[int, Added | LookalikeError] = {}
        requests: dict[int, pb.AddRequest] = {}
        for n, (img, i, p) in enumerate(zip(images, ids_, paths_, strict=True)):
            ready = prepare_row(n, img, size, self.config.fetch)
            if ready.error is not None:
                answers[n] = ready.error  # unreadable here: never sent
            else:
                requests[n] = pb.AddRequest(tag=str(n), image=ready.data, path=p, id=i or "")

        def attempt() -> None:
            todo = [requests[n] for n in sorted(requests) if n not in answers]
            if not todo:
                return
            for item in self._stub.Add(iter(todo), timeout=timeout or self.config.timeout_s,
                                       metadata=self.config.metadata or None):
                answers[int(item.tag)] = (from_row_error(item.error) if item.HasField("error")
                                          else Added(item.id, item.cluster))

        policy = self.config.retry if add_is_idempotent(ids_) else NO_RETRY
        try:
            call_with_retry(attempt, policy, "add")
        except grpc.RpcError as err:
            raise from_rpc_error(err, self.target) from None
        return [answers[n] for n in range(len(images))]

    def delete(self, ids: Iterable[str], timeout: float | None = None) -> tuple[int, list[str]]:
        """Deletes ids; returns (how many were deleted, the ids that were not there).

        Retried on UNAVAILABLE: deleting twice is harmless, though ids deleted by an
        attempt whose answer was lost are then reported as missing.
        """
        request = pb.DeleteRequest(ids=list(ids))
        response = self._unary(self._stub.Delete, request, timeout, "delete")
        return response.deleted, list(response.missing)

    def info(self, timeout: float | None = None) -> CollectionInfo:
        """What is served: model, input size, counts, clusters, versions."""
        response = self._unary(self._stub.Info, pb.InfoRequest(), timeout, "info")
        return CollectionInfo.from_proto(response)

    def health(self, timeout: float | None = None) -> str:
        """The standard health status: "SERVING", "NOT_SERVING", ..."""
        stub = health_pb2_grpc.HealthStub(self._channel)
        response = self._unary(stub.Check, health_pb2.HealthCheckRequest(), timeout, "health")
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)

    @staticmethod
    def plot(result: SearchResult, path: str | Path, **options: Any) -> Path:
        """Writes a PNG of the query beside its neighbours (see clients.plot.plot_result)."""
        from lookalike.clients.plot import plot_result

        return plot_result(result, path, **options)
