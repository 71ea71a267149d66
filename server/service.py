"""The Lookalike servicer: thin gRPC methods over the Engine, gated by the server's state."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc

from lookalike.common.errors import Unavailable
from lookalike.proto.v1 import lookalike_pb2 as pb
from lookalike.proto.v1 import lookalike_pb2_grpc as pb_grpc
from lookalike.server.engine import Alive, Engine
from lookalike.server.errors import handle_errors, handle_stream_errors, row_error
from lookalike.server.in_order import answer_in_order

logger = logging.getLogger(__name__)


def caller_alive(context: grpc.ServicerContext) -> Alive:
    """Whether the caller still waits: not cancelled, and its deadline not passed."""

    def alive() -> bool:
        if not context.is_active():
            return False
        left = context.time_remaining()
        return left is None or left > 0

    return alive


class LookalikeService(pb_grpc.LookalikeServicer):
    """Answers UNAVAILABLE until an engine is attached and again once closing starts."""

    def __init__(self, engine: Engine | None = None, stream_window: int = 8,
                 stream_workers: int = 16) -> None:
        self._engine = engine
        self._closing = False
        self._stream_window = stream_window
        self._pool = ThreadPoolExecutor(max_workers=stream_workers,
                                        thread_name_prefix="stream-row")

    def attach(self, engine: Engine) -> None:
        self._engine = engine

    def close(self) -> None:
        """New calls are refused from now on; calls already running go on."""
        self._closing = True

    def shutdown_pool(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def engine(self) -> Engine:
        if self._closing:
            raise Unavailable("the server is shutting down; retry on another replica")
        if self._engine is None:
            raise Unavailable("the server is still loading its model; retry in a moment")
        return self._engine

    @handle_errors
    def Search(self, request: pb.SearchRequest, context: grpc.ServicerContext) -> pb.SearchResponse:
        return self.engine().search(request, caller_alive(context))

    @handle_stream_errors
    def SearchStream(
        self, requests: Iterator[pb.SearchStreamRequest], context: grpc.ServicerContext
    ) -> Iterator[pb.SearchStreamResponse]:
        engine = self.engine()
        alive = caller_alive(context)

        def row(item: pb.SearchStreamRequest) -> pb.SearchStreamResponse:
            try:
                response = engine.search(item.request, alive)
            except Exception as exc:  # noqa: BLE001 - one bad row must not end the stream
                return pb.SearchStreamResponse(tag=item.tag, error=row_error(exc))
            return pb.SearchStreamResponse(tag=item.tag, response=response)

        yield from answer_in_order(requests, row, self._pool, self._stream_window, alive)

    @handle_stream_errors
    def Add(
        self, requests: Iterator[pb.AddRequest], context: grpc.ServicerContext
    ) -> Iterator[pb.AddResponse]:
        engine = self.engine()
        alive = caller_alive(context)
        for item in requests:
            try:
                yield engine.add(item, alive)
            except Exception as exc:  # noqa: BLE001 - a refused image is answered, not fatal
                yield pb.AddResponse(tag=item.tag, error=row_error(exc))

    @handle_errors
    def Delete(self, request: pb.DeleteRequest, context: grpc.ServicerContext) -> pb.DeleteResponse:
        return self.engine().delete(request)

    @handle_errors
    def Info(self, request: pb.InfoRequest, context: grpc.ServicerContext) -> pb.InfoResponse:
        return self.engine().info()

    @handle_errors
    def Browse(self, request: pb.BrowseRequest, context: grpc.ServicerContext) -> pb.BrowseResponse:
        return self.engine().browse(request)

    @handle_errors
    def Count(self, request: pb.CountRequest, context: grpc.ServicerContext) -> pb.CountResponse:
        return self.engine().count(request)

    @handle_errors
    def Get(self, request: pb.GetRequest, context: grpc.ServicerContext) -> pb.GetResponse:
        return self.engine().get(request)

    @handle_errors
    def Update(self, request: pb.UpdateRequest, context: grpc.ServicerContext) -> pb.UpdateResponse:
        return self.engine().update(request)

    @handle_errors
    def NameCluster(self, request: pb.NameClusterRequest,
                    context: grpc.ServicerContext) -> pb.NameClusterResponse:
        return self.engine().name_cluster(request)

    @handle_errors
    def Thumbnail(self, request: pb.ThumbnailRequest,
                  context: grpc.ServicerContext) -> pb.ThumbnailResponse:
        return self.engine().thumbnails.answer(request)

    @handle_stream_errors
    def Map(self, request: pb.MapRequest, context: grpc.ServicerContext) -> Iterator[pb.MapChunk]:
        yield from self.engine().map.chunks(request)
