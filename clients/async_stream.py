"""AsyncClient's search_many stream, done with asyncio tasks around one Window.

A feeder task reads the input (an iterable or an async iterable) as the window allows
and prepares each row in a pool of `workers` threads, so file reads, URL fetches and
decoding stay off the event loop. Each attempt has a writer task; the caller's task
reads answers, waiting at most until the window says its rows have stalled.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc

from lookalike.clients.prefetch import Prepared
from lookalike.clients.window import Move, Outcome, Window

_END = object()


class TaskStream:
    """One search_many call's stream, over `open_call` (the SearchStream method), with
    asyncio tasks."""

    def __init__(self, open_call: Callable[..., Any], metadata: Any, window: Window) -> None:
        self._open_call, self._metadata, self._window = open_call, metadata, window
        self._changed = asyncio.Event()
        window.wake = self._changed.set
        self._pool: ThreadPoolExecutor | None = None
        self._call: Any = None
        self._tasks: dict[str, asyncio.Future[Any]] = {}  # feeder, writer, reading

    async def _changes(self) -> None:
        """Waits until the window wakes its waiters."""
        self._changed.clear()
        await self._changed.wait()

    def feed(self, images: Any, prepare: Callable[[int, Any], Prepared], workers: int) -> None:
        """Starts reading images as the window allows, each prepared in a worker thread."""
        rows = aiter(images) if isinstance(images, AsyncIterable) else iter(images)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="lookalike-prefetch")
        self._tasks["feeder"] = asyncio.create_task(self._read(self._window, rows, prepare))

    async def _read(self, window: Window, rows: Iterator[Any] | AsyncIterator[Any],
                    prepare: Callable[[int, Any], Prepared]) -> None:
        """Reads the input as the window allows and starts preparing each row."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                while not window.may_read():
                    await self._changes()
                if window.closed:
                    return
                image = (await anext(rows, _END) if isinstance(rows, AsyncIterator)
                         else next(rows, _END))
                if image is _END:
                    window.input_ended()
                    return
                window.queue(loop.run_in_executor(self._pool, prepare, window.read, image))
        except Exception as exc:  # noqa: BLE001 - the caller gets it from the stream
            window.input_ended(exc)

    def open(self) -> None:
        """Opens the stream for the window's current attempt."""
        self._end_call()
        self._call = self._open_call(metadata=self._metadata)
        self._tasks["writer"] = asyncio.create_task(self._write(self._call, self._window.attempt))
        self._tasks["reading"] = asyncio.ensure_future(self._call.read())

    async def _write(self, call: Any, attempt: int) -> None:
        """One attempt's writer: the window's rows, each once it is prepared."""
        window = self._window
        try:
            while (move := window.next_to_send(attempt)) is not Move.STOP:
                if move is Move.WAIT:
                    await self._changes()
                elif move is Move.DONE:
                    await call.done_writing()
                    return
                elif (request := window.sent(move, await move.handle, attempt)) is None:
                    return
                else:
                    await call.write(request)
        except asyncio.InvalidStateError:
            return  # the call has ended: its read says why

    async def receive(self) -> list[Outcome] | None:
        """The outcomes the next answer makes due, in input order; None once the server
        has ended the stream. Raises the input's own error, or the window's stalled()."""
        window, reading = self._window, self._tasks["reading"]
        window.listen()
        while not reading.done():
            self._raise_failure()
            left = window.time_left()
            if left is not None and left <= 0:
                raise window.stalled()
            others = {t for name, t in self._tasks.items() if name != "reading" and not t.done()}
            await asyncio.wait({reading, *others}, timeout=1.0 if left is None else left,
                               return_when=asyncio.FIRST_COMPLETED)
        response = reading.result()
        if response is grpc.aio.EOF:
            self._raise_failure()  # a failed write ends the call too
            return None
        self._tasks["reading"] = asyncio.ensure_future(self._call.read())
        return window.answer(response)

    def retry_after(self, err: grpc.RpcError) -> float:
        """The wait before the next attempt (window.retry_after)."""
        return self._window.retry_after(err)

    def check_finished(self) -> None:
        """Raises Unavailable when the server ended the stream with rows unanswered."""
        if not self._window.finished:
            raise self._window.ended_early()

    def _raise_failure(self) -> None:
        """Raises the input's error, or the writer's (a write on a broken connection)."""
        window, writer = self._window, self._tasks.get("writer")
        if window.input_error is not None:
            raise window.input_error
        if writer is not None and writer.done() and not writer.cancelled():
            if (error := writer.exception()) is not None:
                raise error

    def _end_call(self) -> None:
        for name in ("writer", "reading"):
            if name in self._tasks:
                self._tasks.pop(name).cancel()
        if self._call is not None:
            self._call.cancel()

    def close(self) -> None:
        self._window.close()
        self._end_call()
        if "feeder" in self._tasks:
            self._tasks.pop("feeder").cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
