"""Building a method handler of the same kind (unary or streaming) as another one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

_MAKERS = {
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
    make = _MAKERS[(handler.request_streaming, handler.response_streaming)]
    return make(behavior, request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
