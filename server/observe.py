"""One structured log line and the call metrics for every call (an interceptor)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from lookalike.server.errors import caller_ended
from lookalike.server.handlers import handler_like, inner_behavior
from lookalike.server.metrics import Metrics

logger = logging.getLogger(__name__)


class CallLog(grpc.ServerInterceptor):
    """Logs `call method=... code=... ms=... peer=...` and counts calls by method and code.

    Only the method, status, duration and peer are logged: never a request's contents.
    """

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], Any],
        details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = continuation(details)
        if handler is None:
            return None
        wrap = self._streaming if handler.response_streaming else self._unary
        return handler_like(handler, wrap(details.method, inner_behavior(handler)))

    def _unary(self, method: str, inner: Callable[..., Any]) -> Callable[..., Any]:
        def behavior(request: Any, context: grpc.ServicerContext) -> Any:
            start = time.perf_counter()
            failed = True
            try:
                response = inner(request, context)
                failed = False
                return response
            finally:
                self._record(method, context, start, failed)

        return behavior

    def _streaming(self, method: str, inner: Callable[..., Any]) -> Callable[..., Any]:
        def behavior(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            start = time.perf_counter()
            failed = True
            try:
                yield from inner(request, context)
                failed = False
            except GeneratorExit:
                failed = None  # type: ignore[assignment]  # the caller cancelled
                raise
            finally:
                self._record(method, context, start, failed)

        return behavior

    def _record(
        self, method: str, context: grpc.ServicerContext, start: float, failed: bool | None
    ) -> None:
        seconds = time.perf_counter() - start
        code = context.code()
        if code is not None:
            name = code.name
        elif failed is None:
            name = "CANCELLED"  # the caller closed the response stream
        elif not failed and not context.is_active():
            name = caller_ended(context).name  # answered after the caller left
        else:
            name = "UNKNOWN" if failed else "OK"
        self._metrics.calls.labels(method, name).inc()
        self._metrics.call_seconds.labels(method).observe(seconds)
        if not logger.isEnabledFor(logging.INFO):
            return
        logger.info(
            "call method=%s code=%s ms=%.2f peer=%s", method, name, seconds * 1000,
            context.peer(),
            extra={"rpc_method": method, "rpc_code": name, "duration_ms": seconds * 1000,
                   "peer": context.peer()},
        )
