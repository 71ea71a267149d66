"""Admission control: at most max_concurrent_rpcs calls at once, refusals logged like any call.

grpcio's own `maximum_concurrent_rpcs` refuses a call before any interceptor's handler runs,
so the refusal never reached the call log or the call metrics. Here the same rule is applied
one step earlier, inside the interceptor chain, where CallLog sees the refusal: a call is
admitted while fewer than the limit are queued or running in the server's thread pool (what
grpcio counts too), and refused with RESOURCE_EXHAUSTED otherwise.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc

from lookalike.common.errors import ResourceExhausted
from lookalike.server.handlers import refusing_handler

# Threads beyond the limit, so a refusal never waits behind admitted calls for a thread.
REFUSAL_THREADS = 4

# A busy server is a healthy one: unary health checks are always admitted, so a readiness
# probe never marks a full server unready. They take microseconds, and the refusal threads
# keep cycling, so one never waits long for a thread. Health Watch and reflection streams
# need no token and hold a thread for as long as they stay open: admitting them all would
# let anyone pin every thread, so they stay under the limit.
EXEMPT_METHODS = frozenset({"/grpc.health.v1.Health/Check"})


class CountingExecutor(futures.ThreadPoolExecutor):
    """A thread pool that knows how many of its tasks are queued or running."""

    def __init__(self, max_workers: int, thread_name_prefix: str = "") -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix=thread_name_prefix)
        self._count_lock = threading.Lock()
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> futures.Future:
        with self._count_lock:
            self._in_flight += 1
        try:
            future = super().submit(fn, *args, **kwargs)
        except BaseException:
            self._finished(None)
            raise
        future.add_done_callback(self._finished)
        return future

    def _finished(self, _future: futures.Future | None) -> None:
        with self._count_lock:
            self._in_flight -= 1


def call_executor(limit: int) -> CountingExecutor:
    """The pool that runs calls: one thread per admitted call, plus a few for refusals."""
    return CountingExecutor(limit + REFUSAL_THREADS, thread_name_prefix="grpc-call")


class ConcurrencyLimit(grpc.ServerInterceptor):
    """Refuses a call with RESOURCE_EXHAUSTED while `limit` calls are already in the pool.

    Health checks (EXEMPT_METHODS) are never refused.

    A refusal is itself a (very short) task in the pool, so during a burst of refusals a
    call may be refused a moment before the last admitted call's slot frees: the limit is
    never exceeded, and is briefly stricter.
    """

    def __init__(self, executor: CountingExecutor, limit: int) -> None:
        self._executor = executor
        self._limit = limit

    def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], Any],
        details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = continuation(details)
        if (handler is None or details.method in EXEMPT_METHODS
                or self._executor.in_flight < self._limit):
            return handler
        return refusing_handler(handler, ResourceExhausted(
            f"the server is busy: {self._limit} calls are already running, its limit "
            "(--max-concurrent-rpcs); retry in a moment"))
