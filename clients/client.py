"""The synchronous Python SDK."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

from lookalike.clients.errors import from_rpc_error, from_row_error
from lookalike.clients.images import image_bytes
from lookalike.clients.results import Added, CollectionInfo, SearchResult
from lookalike.common.errors import InvalidArgument, LookalikeError
from lookalike.proto.v1 import lookalike_pb2 as pb
from lookalike.proto.v1 import lookalike_pb2_grpc as pb_grpc

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 30.0
MAX_MESSAGE_BYTES = 32 * 1024 * 1024


def search_request(
    image: Any = None, *, id: str | None = None, vector: Sequence[float] | None = None,
    k: int = 10, nprobe: int | None = None,
) -> pb.SearchRequest:
    """The SearchRequest for exactly one of image, id or vector."""
    given = [name for name, v in (("image", image), ("id", id), ("vector", vector))
             if v is not None]
    if len(given) != 1:
        raise InvalidArgument(f"give exactly one of image, id or vector (got {given or 'none'})")
    request = pb.SearchRequest(k=k, nprobe=nprobe or 0)
    if id is not None:
        request.id = id
    elif vector is not None:
        request.vector.values.extend(np.asarray(vector, np.float32).ravel().tolist())
    else:
        request.image = image_bytes(image)
    return request


class Client:
    """Talks to a lookalike server.

    Example:
        with Client("127.0.0.1:50051") as client:
            for n in client.search("photo.jpg", k=5).neighbors:
                print(n.id, n.path, n.distance)
    """

    def __init__(self, target: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.target = target
        self.timeout = timeout
        self._channel = grpc.insecure_channel(
            target,
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ],
        )
        self._stub = pb_grpc.LookalikeStub(self._channel)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def _call(self, method: Any, request: Any, timeout: float | None) -> Any:
        try:
            return method(request, timeout=timeout or self.timeout)
        except grpc.RpcError as err:
            raise from_rpc_error(err, self.target) from None

    def search(
        self, image: Any = None, *, id: str | None = None,
        vector: Sequence[float] | None = None, k: int = 10, nprobe: int | None = None,
        timeout: float | None = None,
    ) -> SearchResult:
        """The k images most like the query: a path, URL, bytes, PIL image or array, an
        `id=` of a stored image, or a raw `vector=`."""
        request = search_request(image, id=id, vector=vector, k=k, nprobe=nprobe)
        response = self._call(self._stub.Search, request, timeout)
        return SearchResult.from_proto(response, query=id if id is not None else image)

    def search_many(
        self, images: Iterable[Any], *, k: int = 10, nprobe: int | None = None,
        timeout: float | None = None,
    ) -> Iterator[SearchResult | LookalikeError]:
        """Searches many images over one stream; yields, in input order, a result or the
        row's error (so one bad image does not stop the rest)."""
        errors: dict[str, LookalikeError] = {}

        def requests() -> Iterator[pb.SearchStreamRequest]:
            for row, image in enumerate(images):
                tag = str(row)
                try:
                    yield pb.SearchStreamRequest(tag=tag, request=search_request(
                        image, k=k, nprobe=nprobe))
                except LookalikeError as exc:
                    errors[tag] = exc
                    yield pb.SearchStreamRequest(tag=tag)  # keeps rows in order

        try:
            for item in self._stub.SearchStream(requests(), timeout=timeout):
                if item.tag in errors:
                    yield errors.pop(item.tag)
                elif item.HasField("error"):
                    yield from_row_error(item.error)
                else:
                    yield SearchResult.from_proto(item.response)
        except grpc.RpcError as err:
            raise from_rpc_error(err, self.target) from None

    def add(
        self, images: Iterable[Any], ids: Iterable[str | None] | None = None,
        paths: Iterable[str] | None = None, timeout: float | None = None,
    ) -> list[Added | LookalikeError]:
        """Adds images; each comes back as Added (durable) or the error that refused it."""
        images = list(images)
        ids = list(ids) if ids is not None else [None] * len(images)
        paths = list(paths) if paths is not None else [
            str(i) if isinstance(i, str) else "" for i in images]
        requests = [pb.AddRequest(tag=str(n), image=image_bytes(img), path=p, id=i or "")
                    for n, (img, i, p) in enumerate(zip(images, ids, paths))]
        out: list[Added | LookalikeError] = []
        try:
            for item in self._stub.Add(iter(requests), timeout=timeout or self.timeout):
                out.append(from_row_error(item.error) if item.HasField("error")
                           else Added(item.id, item.cluster))
        except grpc.RpcError as err:
            raise from_rpc_error(err, self.target) from None
        return out

    def delete(self, ids: Iterable[str], timeout: float | None = None) -> tuple[int, list[str]]:
        """Deletes ids; returns (how many were deleted, the ids that were not there)."""
        response = self._call(self._stub.Delete, pb.DeleteRequest(ids=list(ids)), timeout)
        return response.deleted, list(response.missing)

    def info(self, timeout: float | None = None) -> CollectionInfo:
        return CollectionInfo.from_proto(self._call(self._stub.Info, pb.InfoRequest(), timeout))

    def health(self, timeout: float | None = None) -> str:
        """The standard health status: "SERVING", "NOT_SERVING", ..."""
        stub = health_pb2_grpc.HealthStub(self._channel)
        response = self._call(stub.Check, health_pb2.HealthCheckRequest(), timeout)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
