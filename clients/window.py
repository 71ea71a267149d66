"""The bookkeeping of one search_many call, free of I/O, shared by both clients.

Rows move input -> queued (being prepared) -> taken by a writer -> pending (sent) ->
ready (answered, waiting for an earlier row) -> yielded. At most `size` rows are read
but not yet yielded, which bounds the read-ahead, the server's queue and the reorder
buffer alike. A failed stream is opened again after a backoff and every taken or
pending row is sent again (search is idempotent); any answer resets the backoff.

Not thread-safe: Client's threads hold one lock around every call, and `wake` is
called (under it) whenever a waiting reader or writer may go on.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

import grpc

from lookalike.clients.checks import parsed, shown
from lookalike.clients.errors import BadAnswer
from lookalike.clients.messages import row_outcome, search_request
from lookalike.clients.prefetch import Prepared
from lookalike.clients.results import SearchResult
from lookalike.clients.retry import RetryPolicy, retry_delay, stream_lost
from lookalike.common.errors import DeadlineExceeded, LookalikeError, Unavailable
from lookalike.proto.v1 import lookalike_pb2 as pb

Outcome = SearchResult | LookalikeError


class Move(Enum):
    """What a writer does when next_to_send has no row for it."""

    WAIT = "wait"  # nothing to send yet
    DONE = "done"  # every row is sent: close the request side
    STOP = "stop"  # this attempt is over (or the call is closed): send nothing more


@dataclass(frozen=True)
class Row:
    """A row read from the input; handle is the shell's future of its Prepared."""

    number: int
    handle: Any


class Window:
    """The rows of one search_many call, and the decisions about them."""

    def __init__(
        self, *, k: int, nprobe: int | None, size: int, stall_timeout_s: float,
        retry: RetryPolicy, target: str, clock: Callable[[], float] = time.monotonic,
        filter: pb.Filter | None = None,
    ) -> None:
        self.k, self.nprobe, self.filter = k, nprobe, filter
        self.size = max(1, size)
        self.stall_timeout_s = stall_timeout_s
        self.target = target
        self.wake: Callable[[], None] = lambda: None  # set by the shell that drives it
        self._retry, self._delays = retry, retry.delays()
        self._clock = clock
        self._last = clock()
        self._queued: deque[Row] = deque()
        self._resend: deque[Row] = deque()
        self._taken: dict[int, Row] = {}
        self._pending: dict[str, tuple[Row, Prepared]] = {}  # by tag
        self._ready: dict[int, Outcome] = {}
        self.read = self.yielded = self.attempt = 0
        self.input_done = self.closed = False
        self.input_error: BaseException | None = None

    # The feeder: reads the input and starts preparing rows.
    def may_read(self) -> bool:
        """Whether the feeder may go on: a row fits in the window, or it must stop."""
        return self.closed or self.read - self.yielded < self.size

    def queue(self, handle: Any) -> None:
        """Row number `read` is being prepared; handle resolves to its Prepared."""
        self._queued.append(Row(self.read, handle))
        self.read += 1
        self.wake()

    def input_ended(self, error: BaseException | None = None) -> None:
        """The input is exhausted, or raised error (which the caller then gets)."""
        self.input_done, self.input_error = error is None, error
        self.wake()

    # A writer: one per attempt, sends rows in order.
    def next_to_send(self, attempt: int) -> Row | Move:
        if self.closed or attempt != self.attempt:
            return Move.STOP
        source = self._resend or self._queued
        if source:
            row = source.popleft()
            self._taken[row.number] = row
            return row
        return Move.DONE if self.input_done else Move.WAIT

    def sent(self, row: Row, prepared: Prepared, attempt: int) -> pb.SearchStreamRequest | None:
        """The request for a taken row once prepared, or None when this attempt is over.

        A row that failed here still travels, empty, so the server's answer brings its
        error out in order.
        """
        if self.closed or attempt != self.attempt:
            return None  # reopen moved it to the next attempt's resends
        del self._taken[row.number]
        self._pending[str(row.number)] = (row, prepared)
        self._last = self._clock()
        if prepared.data is None:
            return pb.SearchStreamRequest(tag=str(row.number))
        return pb.SearchStreamRequest(tag=str(row.number), request=search_request(
            prepared.data, k=self.k, nprobe=self.nprobe, filter=self.filter))

    # The reader: the core's loop over the server's answers.
    def listen(self) -> None:
        """A wait for the next answer begins: the stall clock starts here at the latest."""
        self._last = self._clock()

    def answer(self, response: pb.SearchStreamResponse) -> list[Outcome]:
        """Takes one answer; returns the outcomes now due, in input order.

        Raises:
            BadAnswer: an answer whose tag names no row in flight (unknown, empty, or a row
                already answered), or that did not parse: which row it meant cannot be
                known, so the call ends.
        """
        entry = self._pending.pop(parsed(response, self.target).tag, None)
        if entry is None:
            raise BadAnswer(f"the server at {self.target} answered row tag "
                            f"{shown(response.tag)}, which is not in flight")
        row, prepared = entry
        self._ready[row.number] = row_outcome(prepared, response)
        self._delays = self._retry.delays()
        self._last = self._clock()
        due = []
        while self.yielded in self._ready:
            due.append(self._ready.pop(self.yielded))
            self.yielded += 1
        self.wake()
        return due

    @property
    def finished(self) -> bool:
        return self.input_done and not (
            self._queued or self._resend or self._taken or self._pending or self._ready)

    def time_left(self) -> float | None:
        """Seconds until rows in flight count as stalled; None while none are in flight."""
        if not self._pending:
            return None
        return self._last + self.stall_timeout_s - self._clock()

    def stalled(self) -> DeadlineExceeded:
        return DeadlineExceeded(f"no answer from {self.target} for {self.stall_timeout_s:g}s")

    def ended_early(self) -> Unavailable:
        return Unavailable(f"the server at {self.target} ended the stream early")

    def retry_after(self, err: grpc.RpcError) -> float:
        """Starts the next attempt after a failed stream and returns the wait before it.

        Raises:
            LookalikeError: err's domain exception, when it is not retried.
        """
        what = f"stream ({len(self._taken) + len(self._pending)} rows in flight)"
        delay = retry_delay(err, self._delays, retryable=stream_lost(err), target=self.target,
                            what=what)
        unanswered = [*self._taken.values(), *(row for row, _ in self._pending.values())]
        self._resend = deque(sorted([*unanswered, *self._resend], key=lambda r: r.number))
        self._taken.clear()
        self._pending.clear()
        self.attempt += 1
        self.wake()
        return delay

    def close(self) -> None:
        self.closed = True
        self.wake()
