"""Client's search_many stream, done with threads around one Window.

The caller's thread reads answers (receive). A feeder thread reads the input as the window
allows and prepares each row in a pool of `workers` threads (Pillow and file reads
release the GIL, so decoding overlaps the network). gRPC's request thread runs each
attempt's writer, and a watcher cancels a call whose rows stall or whose input failed,
since a blocking read has no timeout of its own. Every touch of the window holds `lock`.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc

from lookalike.clients.prefetch import Prepared
from lookalike.clients.window import Move, Outcome, Row, Window
from lookalike.common.errors import InvalidArgument
from lookalike.proto.v1 import lookalike_pb2 as pb

_END = object()


class ThreadedStream:
    """One search_many call's stream, over `open_call` (the SearchStream method), with
    threads; every touch of the window holds `lock`."""

    def __init__(self, open_call: Callable[..., Any], metadata: Any, window: Window) -> None:
        self._open_call, self._metadata, self._window = open_call, metadata, window
        self.lock = threading.Condition()
        with self.lock:
            window.wake = self.lock.notify_all
        self._pool: ThreadPoolExecutor | None = None
        self._call: Any = None
        self._halted = threading.Event()  # the watcher cancelled the current call
        self._stop = threading.Event()

    def feed(self, images: Any, prepare: Callable[[int, Any], Prepared], workers: int) -> None:
        """Starts reading images as the window allows, each prepared in a worker thread."""
        if isinstance(images, AsyncIterable):
            raise InvalidArgument("Client.search_many takes an iterable; an async iterable "
                                  "needs AsyncClient")
        rows = iter(images)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="lookalike-prefetch")
        threading.Thread(target=self._read, args=(self._window, rows, prepare),
                         daemon=True, name="lookalike-feed").start()

    def _read(self, window: Window, images: Iterator[Any],
              prepare: Callable[[int, Any], Prepared]) -> None:
        """Reads the input as the window allows and starts preparing each row."""
        assert self._pool is not None
        try:
            while True:
                with self.lock:
                    self.lock.wait_for(window.may_read)
                    if window.closed:
                        return
                image = next(images, _END)  # outside the lock: the input may be slow
                with self.lock:
                    if image is _END:
                        window.input_ended()
                        return
                    window.queue(self._pool.submit(prepare, window.read, image))
        except Exception as exc:  # noqa: BLE001 - the caller gets it from the stream
            with self.lock:
                window.input_ended(exc)

    def open(self) -> None:
        """Opens the stream for the window's current attempt."""
        with self.lock:
            attempt = self._window.attempt
        self._halted = threading.Event()
        self._call = self._open_call(self._requests(attempt), metadata=self._metadata)
        threading.Thread(target=self._watch, args=(self._call, attempt, self._halted),
                         daemon=True, name="lookalike-stream-watch").start()

    def _requests(self, attempt: int) -> Iterator[pb.SearchStreamRequest]:
        """One attempt's writer: the window's rows, each once it is prepared."""
        window = self._window
        while True:
            with self.lock:
                while (move := window.next_to_send(attempt)) is Move.WAIT:
                    self.lock.wait()
            if not isinstance(move, Row):
                return  # DONE closes the request side; after STOP the call is over anyway
            prepared = move.handle.result()
            with self.lock:
                request = window.sent(move, prepared, attempt)
            if request is None:
                return
            yield request

    def _watch(self, call: Any, attempt: int, halted: threading.Event) -> None:
        """Cancels call when rows in flight get no answer in time or the input failed.

        It polls (a quarter of the timeout, a second at most) rather than waking on
        every answer.
        """
        window = self._window
        while not self._stop.wait(min(1.0, window.stall_timeout_s / 4)):
            with self.lock:
                if call.done() or window.closed or attempt != window.attempt:
                    return
                left = window.time_left()
                if window.input_error is not None or (left is not None and left <= 0):
                    halted.set()
                    break
        call.cancel()

    def receive(self) -> list[Outcome] | None:
        """The outcomes the next answer makes due, in input order; None once the server
        has ended the stream. Raises the input's own error, or the window's stalled()."""
        window = self._window
        assert self._call is not None
        with self.lock:
            window.listen()
        try:
            response = next(self._call, None)
        except grpc.RpcError:
            if window.input_error is not None:
                raise window.input_error from None
            if self._halted.is_set():
                raise window.stalled() from None
            raise
        if response is None:
            return None
        with self.lock:
            return window.answer(response)

    def retry_after(self, err: grpc.RpcError) -> float:
        """The wait before the next attempt (window.retry_after)."""
        with self.lock:
            return self._window.retry_after(err)

    def check_finished(self) -> None:
        """Raises Unavailable when the server ended the stream with rows unanswered."""
        with self.lock:
            if not self._window.finished:
                raise self._window.ended_early()

    def close(self) -> None:
        self._stop.set()
        with self.lock:
            self._window.close()
        if self._call is not None:
            self._call.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
