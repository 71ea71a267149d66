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
# The most a message may hold, in bytes of UTF-8. A call's message travels as a header
# (grpc-message, where a byte past ASCII takes 3), and a client refuses headers past 8 to 16
# KB: a message quoting a caller's 20,000-character id whole reached the caller as
# RESOURCE_EXHAUSTED "received metadata size exceeds ... limit" instead of its own code.
MAX_MESSAGE_BYTES = 512
CUT = "..."


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
        context.abort(status_code(exc), message(exc))
    logger.exception("bug while serving a call", exc_info=exc)
    context.abort(grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE)


def message(exc: LookalikeError, limit: int = MAX_MESSAGE_BYTES) -> str:
    """exc's message as a caller gets it: at most limit bytes of UTF-8, whatever it quotes.

    A longer one keeps its start and its end (what the error is about, and why), cut on
    character boundaries and joined by "...". Text that UTF-8 cannot encode (a lone
    surrogate) is shown as an escape.
    """
    data = str(exc).encode("utf-8", "backslashreplace")
    if len(data) <= limit:
        return data.decode("utf-8")
    room = limit - len(CUT)
    head, tail = data[: room * 2 // 3], data[len(data) - (room - room * 2 // 3):]
    # A cut inside a character leaves a piece of it at the edge; "ignore" drops that piece.
    return head.decode("utf-8", "ignore") + CUT + tail.decode("utf-8", "ignore")


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
        return pb.Error(code=status_code(exc).value[0], message=message(exc),
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
