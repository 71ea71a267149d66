"""AsyncClient's search_many steps, done with asyncio tasks around one Window.

A feeder task reads the input (an iterable or an async iterable) as the window allows
and prepares each row in a pool of `workers` threads, so file reads, URL fetches and
decoding stay off the event loop. Each attempt has a writer task; the caller's task
reads answers, waiting at most until the window says its rows have stalled.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc

from lookalike.clients.prefetch import Prepared
from lookalike.clients.steps import Feed, Pump, Step
from lookalike.clients.window import Move, Window
from lookalike.proto.v1 import lookalike_pb2 as pb

_END = object()


class TaskStream(Pump):
    """Does the stream steps of one search_many call with asyncio tasks."""

    def __init__(self, open_call: Callable[..., Any], metadata: Any,
                 fallback: Callable[[Step], Awaitable[Any]]) -> None:
        super().__init__(open_call, metadata, fallback)
        self._changed = asyncio.Event()
        self._tasks: dict[str, asyncio.Future[Any]] = {}  # feeder, writer, reading

    async def _changes(self) -> None:
        """Waits until the window wakes its waiters."""
        self._changed.clear()
        await self._changed.wait()

    async def feed(self, step: Feed) -> None:
        images = step.images
        rows = aiter(images) if isinstance(images, AsyncIterable) else iter(images)
        self._window = step.window
        step.window.wake = self._changed.set
        self._pool = ThreadPoolExecutor(step.workers, thread_name_prefix="lookalike-prefetch")
        self._tasks["feeder"] = asyncio.create_task(self._read(step.window, rows, step.prepare))

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

    async def open(self, attempt: int) -> None:
        self._end_call()
        self._call = self._open_call()
        self._tasks["writer"] = asyncio.create_task(self._write(self._call, attempt))
        self._tasks["reading"] = asyncio.ensure_future(self._call.read())

    async def _write(self, call: Any, attempt: int) -> None:
        """One attempt's writer: the window's rows, each once it is prepared."""
        window = self._window
        assert window is not None
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

    async def receive(self) -> pb.SearchStreamResponse | None:
        window, reading = self._window, self._tasks["reading"]
        assert window is not None
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
        return response

    def _raise_failure(self) -> None:
        """Raises the input's error, or the writer's (a write on a broken connection)."""
        window, writer = self._window, self._tasks.get("writer")
        if window is not None and window.input_error is not None:
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
        if self._window is not None:
            self._window.close()
        self._end_call()
        if "feeder" in self._tasks:
            self._tasks.pop("feeder").cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
