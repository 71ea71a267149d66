"""SearchStream with a bounded in-flight window, answers in input order, and retries."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from lookalike.clients.errors import from_row_error, from_rpc_error
from lookalike.clients.prefetch import Prepared
from lookalike.clients.results import SearchResult
from lookalike.clients.retry import RetryPolicy, is_retryable
from lookalike.common.errors import DeadlineExceeded, LookalikeError, Unavailable
from lookalike.proto.v1 import lookalike_pb2 as pb

logger = logging.getLogger(__name__)

Outcome = SearchResult | LookalikeError
OpenCall = Callable[[Iterator[pb.SearchStreamRequest]], Any]


class WindowedStream:
    """Sends prepared rows over SearchStream and yields (row, outcome) in row order.

    At most `window` rows are sent but not yet yielded, which bounds both the server's
    queue and the reorder buffer. When the stream fails with UNAVAILABLE it is opened
    again after a backoff and the unanswered rows are sent again (search is
    idempotent); any answer resets the backoff. A row that failed before sending still
    travels as an empty request, so its place in the order is kept by the server.
    """

    def __init__(
        self, open_call: OpenCall, rows: Iterator[Prepared], *, k: int, nprobe: int,
        window: int, retry: RetryPolicy, stall_timeout_s: float, target: str,
    ) -> None:
        self._open_call = open_call
        self._rows = rows
        self._k, self._nprobe = k, nprobe
        self._window = max(1, window)
        self._retry = retry
        self._stall_timeout_s = stall_timeout_s
        self._target = target
        self._lock = threading.Lock()
        self._pull_lock = threading.Lock()
        self._slots = threading.Semaphore(self._window)
        self._pending: dict[int, Prepared] = {}  # sent in this attempt or before, unanswered
        self._resend: deque[Prepared] = deque()
        self._attempt = 0
        self._exhausted = False
        self._closed = False
        self._last_event = time.monotonic()

    def _wire(self, item: Prepared) -> pb.SearchStreamRequest:
        if item.data is None:
            return pb.SearchStreamRequest(tag=str(item.row))
        return pb.SearchStreamRequest(tag=str(item.row), request=pb.SearchRequest(
            image=item.data, k=self._k, nprobe=self._nprobe))

    def _next_item(self, attempt: int) -> Prepared | None:
        """The next row for this attempt: a resend first, else a new row once a slot is free."""
        with self._lock:
            if attempt != self._attempt or self._closed:
                return None
            if self._resend:
                return self._resend.popleft()
        while not self._slots.acquire(timeout=0.1):
            if attempt != self._attempt or self._closed:
                return None
        with self._pull_lock:
            item = None if self._exhausted else next(self._rows, None)
        with self._lock:
            if item is None:
                self._exhausted = True
                self._slots.release()
                return None
            self._pending[item.row] = item
            if attempt != self._attempt:
                self._resend.append(item)  # the stream failed meanwhile: the next one sends it
                return None
            return item

    def _requests(self, attempt: int) -> Iterator[pb.SearchStreamRequest]:
        while (item := self._next_item(attempt)) is not None:
            self._last_event = time.monotonic()
            yield self._wire(item)

    def _outcome(self, item: Prepared, response: pb.SearchStreamResponse) -> Outcome:
        if item.error is not None:
            return item.error
        if response.HasField("error"):
            return from_row_error(response.error)
        return SearchResult.from_proto(response.response, query=item.query)

    def _watch(self, call: Any, stop: threading.Event, stalled: threading.Event) -> None:
        """Cancels the call when rows are in flight and nothing happens for too long."""
        while not stop.wait(min(1.0, self._stall_timeout_s / 4)):
            quiet = time.monotonic() - self._last_event
            if self._pending and quiet > self._stall_timeout_s:
                stalled.set()
                call.cancel()
                return

    def __iter__(self) -> Iterator[tuple[int, Outcome]]:
        done: dict[int, Outcome] = {}
        next_row = 0
        delays = self._retry.delays()
        call = None
        try:
            while True:
                call = self._open_call(self._requests(self._attempt))
                stop, stalled = threading.Event(), threading.Event()
                threading.Thread(target=self._watch, args=(call, stop, stalled),
                                 daemon=True, name="lookalike-stream-watch").start()
                try:
                    for response in self._answers(call):
                        with self._lock:
                            item = self._pending.pop(int(response.tag))
                        done[item.row] = self._outcome(item, response)
                        delays = self._retry.delays()
                        while next_row in done:
                            yield next_row, done.pop(next_row)
                            self._slots.release()
                            next_row += 1
                except grpc.RpcError as err:
                    delays = self._recover(err, stalled.is_set(), delays)
                    continue
                finally:
                    stop.set()
                if self._exhausted and not self._pending:
                    return
                raise Unavailable(f"the server at {self._target} ended the stream early")
        finally:
            self._closed = True
            if call is not None:
                call.cancel()  # a caller that stopped early must not leave the stream open

    def _answers(self, call: Any) -> Iterator[pb.SearchStreamResponse]:
        while True:
            self._last_event = time.monotonic()
            try:
                response = next(call)
            except StopIteration:
                return
            self._last_event = time.monotonic()
            yield response

    def _recover(self, err: grpc.RpcError, stalled: bool, delays: Iterator[float]
                 ) -> Iterator[float]:
        """Prepares the next attempt after a failed stream, or raises the domain error."""
        if stalled:
            raise DeadlineExceeded(
                f"no answer from {self._target} for {self._stall_timeout_s:g}s") from None
        delay = next(delays, None) if is_retryable(err) else None
        if delay is None:
            raise from_rpc_error(err, self._target) from None
        with self._lock:
            self._attempt += 1
            self._resend = deque(sorted(self._pending.values(), key=lambda p: p.row))
        logger.info("stream to %s failed (%s); %d rows in flight, retrying in %.2fs",
                    self._target, err.code().name, len(self._resend), delay)
        time.sleep(delay)
        return delays
