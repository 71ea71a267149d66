"""The Lookalike servicer: thin gRPC methods over the Engine."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import grpc

from lookalike.proto.v1 import lookalike_pb2 as pb
from lookalike.proto.v1 import lookalike_pb2_grpc as pb_grpc
from lookalike.server.engine import Engine
from lookalike.server.errors import handle_errors, row_error

logger = logging.getLogger(__name__)


class LookalikeService(pb_grpc.LookalikeServicer):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @handle_errors
    def Search(self, request: pb.SearchRequest, context: grpc.ServicerContext) -> pb.SearchResponse:
        return self.engine.search(request)

    def SearchStream(
        self, requests: Iterator[pb.SearchStreamRequest], context: grpc.ServicerContext
    ) -> Iterator[pb.SearchStreamResponse]:
        for item in requests:
            try:
                response = self.engine.search(item.request)
            except Exception as exc:  # noqa: BLE001 - one bad row must not end the stream
                yield pb.SearchStreamResponse(tag=item.tag, error=row_error(exc))
            else:
                yield pb.SearchStreamResponse(tag=item.tag, response=response)

    def Add(
        self, requests: Iterator[pb.AddRequest], context: grpc.ServicerContext
    ) -> Iterator[pb.AddResponse]:
        for item in requests:
            try:
                yield self.engine.add(item)
            except Exception as exc:  # noqa: BLE001 - a refused image is answered, not fatal
                yield pb.AddResponse(tag=item.tag, error=row_error(exc))

    @handle_errors
    def Delete(self, request: pb.DeleteRequest, context: grpc.ServicerContext) -> pb.DeleteResponse:
        return self.engine.delete(request)

    @handle_errors
    def Info(self, request: pb.InfoRequest, context: grpc.ServicerContext) -> pb.InfoResponse:
        return self.engine.info()
