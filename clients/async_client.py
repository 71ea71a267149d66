"""The asyncio Python SDK: the same methods as Client, awaited."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import aclosing
from functools import partial
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from lookalike.clients.channel import ClientConfig, make_config, open_aio_channel
from lookalike.clients.errors import from_row_error, from_rpc_error
from lookalike.clients.images import prepare
from lookalike.clients.messages import add_is_idempotent, add_plan, check_query, search_request
from lookalike.clients.prefetch import Prepared, prepare_row
from lookalike.clients.results import Added, CollectionInfo, SearchResult
from lookalike.clients.retry import NO_RETRY, call_with_retry_async, is_retryable
from lookalike.common.errors import DeadlineExceeded, LookalikeError
from lookalike.proto.v1 import lookalike_pb2 as pb
from lookalike.proto.v1 import lookalike_pb2_grpc as pb_grpc

logger = logging.getLogger(__name__)


class AsyncClient:
    """Talks to a lookalike server from asyncio code; see Client for the semantics.

    Example:
        async with AsyncClient("127.0.0.1:50051") as client:
            result = await client.search("photo.jpg", k=5)
            async for outcome in client.search_many(paths):
                ...
    """

    def __init__(self, target: str, *, config: ClientConfig | None = None,
                 **options: Any) -> None:
        self.target = target
        self.config = config or make_config(**options)
        self._channel = open_aio_channel(target, self.config)
        self._stub = pb_grpc.LookalikeStub(self._channel)
        self._size: int | None = None

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._channel.close()

    async def _unary(self, method: Any, request: Any, timeout: float | None, what: str) -> Any:
        call = partial(method, request, timeout=timeout or self.config.timeout_s,
                       metadata=self.config.metadata or None)
        try:
            return await call_with_retry_async(call, self.config.retry, what)
        except grpc.RpcError as err:
            raise from_rpc_error(err, self.target) from None

    async def input_size(self) -> int | None:
        if not self.config.downsize:
            return None
        if self._size is None:
            self._size = (await self.info()).input_size or None
        return self._size

    async def _prepare(self, row: int, image: Any) -> Prepared:
        # File reads, URL fetches and decoding block: keep them off the event loop.
        size = await self.input_size()
        return await asyncio.to_thread(prepare_row, row, image, size, self.config.fetch)

    async def search(
        self, image: Any = None, *, id: str | None = None,
        vector: Sequence[float] | None = None, k: int = 10, nprobe: int | None = None,
        timeout: float | None = None,
    ) -> SearchResult:
        """The k images most like the query (see Client.search)."""
        check_query(image, id, vector)
        data = None
        if image is not None:
            size = await self.input_size()
            data = await asyncio.to_thread(prepare, image, size, self.config.fetch)
        request = search_request(data, id=id, vector=vector, k=k, nprobe=nprobe)
        response = await self._unary(self._stub.Search, request, timeout, "search")
        return SearchResult.from_proto(response, query=id if id is not None else image)

    async def search_many(
        self, images: Iterable[Any] | AsyncIterable[Any], *, k: int = 10,
        nprobe: int | None = None, timeout: float | None = None, window: int = 64,
    ) -> AsyncIterator[SearchResult | LookalikeError]:
        """Searches many images over one stream, yielding in input order a result or the
        row's error.

        Lazy: `images` (an iterable or async iterable, possibly endless) is read only as
        rows are needed, so results come while later rows are unread; at most `window`
        rows are prepared or in flight. On UNAVAILABLE the rows not yet answered are sent
        again after a backoff. `timeout` bounds each wait for an answer while rows are in
        flight."""
        rows = _Rows(images, self._prepare)
        pending: deque[Prepared] = deque()  # read and sent, not yet answered, in order
        delays = self.config.retry.delays()
        try:
            while True:
                try:
                    async with aclosing(self._stream_once(rows, pending, k, nprobe, window,
                                                          timeout)) as outcomes:
                        async for outcome in outcomes:
                            delays = self.config.retry.delays()
                            yield outcome
                    return
                except grpc.RpcError as err:
                    delay = next(delays, None) if _stream_lost(err) else None
                    if delay is None:
                        raise from_rpc_error(err, self.target) from None
                    logger.info("stream to %s failed (%s); %d rows unanswered, retrying in "
                                "%.2fs", self.target, err.code().name, len(pending), delay)
                    await asyncio.sleep(delay)
        finally:
            rows.cancel()

    async def _stream_once(
        self, rows: _Rows, pending: deque[Prepared], k: int, nprobe: int | None,
        window: int, timeout: float | None,
    ) -> AsyncIterator[SearchResult | LookalikeError]:
        call = self._stub.SearchStream(metadata=self.config.metadata or None)
        slots = asyncio.Semaphore(max(1, window) - len(pending))
        wait = timeout or self.config.timeout_s
        sent_at = 0.0

        def wire(item: Prepared) -> pb.SearchStreamRequest:
            if item.data is None:  # failed here: sent empty to keep its place in the order
                return pb.SearchStreamRequest(tag=str(item.row))
            return pb.SearchStreamRequest(tag=str(item.row), request=search_request(
                item.data, k=k, nprobe=nprobe))

        async def write() -> bool:
            """True once every row is sent; False if the call ended first (read says why)."""
            nonlocal sent_at
            try:
                for item in list(pending):  # unanswered by the stream that failed
                    await call.write(wire(item))
                while True:
                    await slots.acquire()
                    item = await rows.next()
                    if item is None:
                        break
                    pending.append(item)
                    sent_at = time.monotonic()
                    await call.write(wire(item))
            except asyncio.InvalidStateError:
                return False
            await call.done_writing()
            return True

        writer = asyncio.create_task(write())
        reading: asyncio.Future[Any] = asyncio.ensure_future(call.read())
        try:
            while True:
                begun = time.monotonic()
                while not reading.done():
                    if writer.done():
                        writer.result()  # surfaces a failed write or a failing input
                    left = max(begun, sent_at) + wait - time.monotonic()
                    if pending and left <= 0:
                        raise DeadlineExceeded(f"no answer from {self.target} for {wait:g}s")
                    await asyncio.wait({reading} if writer.done() else {reading, writer},
                                       timeout=left if pending else min(wait, 1.0),
                                       return_when=asyncio.FIRST_COMPLETED)
                response = reading.result()
                if response is grpc.aio.EOF:
                    if pending or not await writer:  # writer surfaces a failed write
                        raise LookalikeError("the server ended the stream early")
                    return
                if not pending or response.tag != str(pending[0].row):
                    raise LookalikeError(f"unexpected answer for row {response.tag}")
                item = pending.popleft()  # the server answers in order, tagged
                slots.release()
                reading = asyncio.ensure_future(call.read())
                yield (item.error if item.error is not None
                       else from_row_error(response.error) if response.HasField("error")
                       else SearchResult.from_proto(response.response, query=item.query))
        finally:
            writer.cancel()
            reading.cancel()
            call.cancel()

    async def add(
        self, images: Iterable[Any], ids: Iterable[str | None] | None = None,
        paths: Iterable[str] | None = None, timeout: float | None = None,
    ) -> list[Added | LookalikeError]:
        """Adds images (see Client.add: retried only when every image has an id)."""
        images = list(images)
        ids_, paths_ = add_plan(images, None if ids is None else list(ids),
                                None if paths is None else list(paths))
        ready = [await self._prepare(n, img) for n, img in enumerate(images)]
        answers: dict[int, Added | LookalikeError] = {
            p.row: p.error for p in ready if p.error is not None}

        async def attempt() -> None:
            todo = [pb.AddRequest(tag=str(p.row), image=p.data, path=paths_[p.row],
                                  id=ids_[p.row] or "") for p in ready if p.row not in answers]
            if not todo:
                return
            call = self._stub.Add(iter(todo), timeout=timeout or self.config.timeout_s,
                                  metadata=self.config.metadata or None)
            async for item in call:
                answers[int(item.tag)] = (from_row_error(item.error) if item.HasField("error")
                                          else Added(item.id, item.cluster))

        policy = self.config.retry if add_is_idempotent(ids_) else NO_RETRY
        try:
            await call_with_retry_async(attempt, policy, "add")
        except grpc.RpcError as err:
            raise from_rpc_error(err, self.target) from None
        return [answers[n] for n in range(len(images))]

    async def delete(self, ids: Iterable[str], timeout: float | None = None
                     ) -> tuple[int, list[str]]:
        response = await self._unary(self._stub.Delete, pb.DeleteRequest(ids=list(ids)),
                                     timeout, "delete")
        return response.deleted, list(response.missing)

    async def info(self, timeout: float | None = None) -> CollectionInfo:
        response = await self._unary(self._stub.Info, pb.InfoRequest(), timeout, "info")
        return CollectionInfo.from_proto(response)

    async def health(self, timeout: float | None = None) -> str:
        stub = health_pb2_grpc.HealthStub(self._channel)
        response = await self._unary(stub.Check, health_pb2.HealthCheckRequest(), timeout,
                                     "health")
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)

    @staticmethod
    def plot(result: SearchResult, path: str | Path, **options: Any) -> Path:
        from lookalike.clients.plot import plot_result

        return plot_result(result, path, **options)


def _stream_lost(err: grpc.RpcError) -> bool:
    """UNAVAILABLE, or a write that failed locally because the connection just broke:
    grpc.aio reports that as INTERNAL until the real status arrives."""
    return is_retryable(err) or (
        isinstance(err, grpc.aio.AioRpcError) and err.code() == grpc.StatusCode.INTERNAL
        and err.details() == "Internal error from Core")


class _Rows:
    """Reads and prepares input rows one at a time, numbering them. A read outlives a
    cancelled waiter, so a retried stream never loses the row being read."""

    def __init__(self, images: Iterable[Any] | AsyncIterable[Any],
                 prepare: Callable[[int, Any], Awaitable[Prepared]]) -> None:
        self._it: Any = aiter(images) if isinstance(images, AsyncIterable) else iter(images)
        self._async = isinstance(self._it, AsyncIterator)
        self._prepare = prepare
        self._count = itertools.count()
        self._next: asyncio.Future[Prepared | None] | None = None

    async def _read(self) -> Prepared | None:
        image = await anext(self._it, _END) if self._async else next(self._it, _END)
        return None if image is _END else await self._prepare(next(self._count), image)

    async def next(self) -> Prepared | None:
        """The next prepared row, or None once the input is exhausted."""
        if self._next is None:
            self._next = asyncio.ensure_future(self._read())
        item = await asyncio.shield(self._next)
        self._next = None
        return item

    def cancel(self) -> None:
        if self._next is not None:
            self._next.cancel()


_END = object()
