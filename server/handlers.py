"""What the server's interceptors share: handlers made from others, of the same kind or refusing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from lookalike.common.errors import LookalikeError
from lookalike.server.errors import abort

MAKERS = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


def inner_behavior(handler: grpc.RpcMethodHandler) -> Callable[..., Any]:
    """The function a handler runs, whatever its kind."""
    return (handler.unary_unary or handler.unary_stream or handler.stream_unary
            or handler.stream_stream)


def handler_like(handler: grpc.RpcMethodHandler, behavior: Callable[..., Any]) -> Any:
    """A handler of handler's kind and (de)serializers that runs behavior instead."""
    make = MAKERS[(handler.request_streaming, handler.response_streaming)]
    return make(behavior, request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)


def refusing_handler(handler: grpc.RpcMethodHandler, error: LookalikeError) -> Any:
    """A handler of the same kind as handler that ends every call with error's status."""

    def refuse(_request: Any, context: grpc.ServicerContext) -> Any:
        abort(context, error)

    return handler_like(handler, refuse)
