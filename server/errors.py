"""The one place that turns domain errors into gRPC status codes and messages."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import grpc

from lookalike.common.errors import ERROR_KIND_KEY, LookalikeError, StorageFull
from lookalike.proto.v1 import lookalike_pb2 as pb

logger = logging.getLogger(__name__)

INTERNAL_MESSAGE = "internal server error; the details are in the server log"


def status_code(exc: LookalikeError) -> grpc.StatusCode:
    return grpc.StatusCode[exc.code]


def abort(context: grpc.ServicerContext, exc: Exception) -> NoReturn:
    """Ends the call with the status that exc maps to; never leaks a traceback.

    A call its caller already ended (cancelled, or past its deadline) ends with that status:
    its request stream raises grpc.RpcError then, which is no bug of ours.
    """
    if not context.is_active() and isinstance(exc, (grpc.RpcError, LookalikeError)):
        end_for_caller(context)
    if isinstance(exc, LookalikeError):
        _log_operator_error(exc)
        context.set_trailing_metadata(((ERROR_KIND_KEY, type(exc).__name__),))
        context.abort(status_code(exc), str(exc))
    logger.exception("bug while serving a call", exc_info=exc)
    context.abort(grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE)


def caller_ended(context: grpc.ServicerContext) -> grpc.StatusCode:
    """How the caller ended an inactive call: its deadline passed, or it cancelled."""
    if context.time_remaining() <= 0:
        return grpc.StatusCode.DEADLINE_EXCEEDED
    return grpc.StatusCode.CANCELLED


def end_for_caller(context: grpc.ServicerContext) -> NoReturn:
    """Records why the caller ended the call (nobody is left to read it) and stops it."""
    code = caller_ended(context)
    logger.debug("the caller ended the call (%s); its work was stopped", code.name)
    context.abort(code, "the caller ended the call")


def row_error(exc: Exception) -> pb.Error:
    """The per-row error of a stream, for a row that failed without ending the stream."""
    if isinstance(exc, LookalikeError):
        _log_operator_error(exc)
        return pb.Error(code=status_code(exc).value[0], message=str(exc),
                        kind=type(exc).__name__)
    logger.exception("bug while serving a stream row", exc_info=exc)
    return pb.Error(code=grpc.StatusCode.INTERNAL.value[0], message=INTERNAL_MESSAGE,
                    kind="LookalikeError")


def _log_operator_error(exc: LookalikeError) -> None:
    """A full disk is RESOURCE_EXHAUSTED to the caller (exc.code) and the operator's to fix:
    logged as an error, not as a bug."""
    if isinstance(exc, StorageFull):
        logger.error("refused a write: %s", exc)


def handle_errors(method: Callable[..., Any]) -> Callable[..., Any]:
    """Wraps a unary servicer method so every exception becomes a proper status."""

    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return method(self, request, context)
        except Exception as exc:  # noqa: BLE001 - mapped, or logged as a bug, in abort()
            abort(context, exc)

    return wrapper


def handle_stream_errors(method: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
    """Wraps a streaming servicer method: an exception that ends the stream becomes a status."""

    @functools.wraps(method)
    def wrapper(self: Any, requests: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        try:
            yield from method(self, requests, context)
        except Exception as exc:  # noqa: BLE001 - mapped, or logged as a bug, in abort()
            abort(context, exc)

    return wrapper
