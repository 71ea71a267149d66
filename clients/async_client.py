"""The asyncio Python SDK, written by hand; clients/generate.py makes Client (client.py) from it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from contextlib import closing
from functools import partial
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from lookalike.clients.async_stream import TaskStream
from lookalike.clients.channel import ClientConfig, make_config, open_aio_channel
from lookalike.clients.checks import parsed
from lookalike.clients.filters import Filter
from lookalike.clients.images import prepare
from lookalike.clients.label_messages import (
    browse_request,
    count_of,
    filter_message,
    get_request,
    got_of,
    name_cluster_request,
    page_of,
    update_request,
    updated_of,
)
from lookalike.clients.map_messages import (
    CollectionMap,
    MapAssembly,
    Thumbnail,
    map_request,
    thumbnail_requests,
    thumbnails_of,
)
from lookalike.clients.messages import (
    AddPlan,
    check_query,
    collection_info,
    delete_request,
    delete_result,
    input_size,
    prepare_all,
    search_request,
    search_result,
    serving_status,
)
from lookalike.clients.prefetch import prepare_row
from lookalike.clients.results import Added, CollectionInfo, Item, Page, SearchResult, Updated
from lookalike.clients.retry import NO_RETRY, is_retryable, retry_delay, stream_lost
from lookalike.clients.window import Window
from lookalike.common.errors import LookalikeError
from lookalike.proto.v1 import lookalike_pb2 as pb
from lookalike.proto.v1 import lookalike_pb2_grpc as pb_grpc

logger = logging.getLogger(__name__)


class AsyncClient:
    """Talks to a lookalike server.

    Every call has a deadline (`timeout`, 30 s by default). search, search_many, info,
    health and delete are retried with backoff while the server is UNAVAILABLE; add
    only when every image has an id (see `add`). Answers that break the lookalike.v1
    contract (a server that is old, broken or not ours) raise BadAnswer, or come back
    as BadAnswer for the rows they concern.

    Example:
        async with AsyncClient("127.0.0.1:50051") as client:
            for n in (await client.search("photo.jpg", k=5)).neighbors:
                print(n.id, n.path, n.distance)
            async for outcome in client.search_many(paths):
                print(outcome)

        AsyncClient("search.example.com:443", tls=True, token="s3cret")
    """

    def __init__(self, target: str, *, config: ClientConfig | None = None,
                 **options: Any) -> None:
        """Opens a channel to target ("host:port").

        Args:
            target: the server's address.
            config: a ready ClientConfig; otherwise built from options.
            **options: make_config's keywords: timeout, token, tls, root_certificates
                (PEM bytes or a file), tls_server_name, retry, downsize, fetch.
        """
        self.target = target
        self.config = config or make_config(**options)
        self._channel = open_aio_channel(target, self.config)
        self._stub = pb_grpc.LookalikeStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)
        self._metadata = self.config.metadata or None
        self._size: int | None = None

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Closes the channel; calls in progress fail."""
        await self._channel.close()

    async def search(
        self, image: Any = None, *, id: str | None = None,
        vector: Sequence[float] | None = None, k: int = 10, nprobe: int | None = None,
        filter: Filter | None = None, timeout: float | None = None,
    ) -> SearchResult:
        """The k images most like the query: a path, URL, bytes, PIL image or array, an
        `id=` of a stored image (left out of its own result), or a raw `vector=`. With a
        `filter`, the k nearest images that match it."""
        check_query(image, id, vector)
        wanted = filter_message(filter)
        data = None
        if image is not None:
            size = await self.input_size()
            # File reads, URL fetches and decoding block: keep them off the event loop.
            data = await asyncio.to_thread(prepare, image, size, self.config.fetch)
        request = search_request(data, id=id, vector=vector, k=k, nprobe=nprobe, filter=wanted)
        response = await self._unary(self._stub.Search, request, timeout, "search")
        return search_result(response, query=id if id is not None else image)

    async def search_many(
        self, images: Iterable[Any] | AsyncIterable[Any], *, k: int = 10,
        nprobe: int | None = None, filter: Filter | None = None, timeout: float | None = None,
        window: int = 64, workers: int = 4,
    ) -> AsyncIterator[SearchResult | LookalikeError]:
        """Searches many images over one stream; yields, in input order, a result or the
        row's error, so one bad image does not stop the rest.

        Lazy: `images` (an iterable, possibly endless; AsyncClient also takes an async
        iterable) is read only as rows are needed, so results come while later rows are
        unread. Images are read, fetched and downsized in `workers` threads while earlier
        ones are on the wire; at most `window` rows are read ahead of the caller
        (prepared, in flight, or answered before an earlier row). If the stream breaks
        with UNAVAILABLE the unanswered rows are sent again after a backoff; `timeout` is
        the longest wait for an answer while rows are in flight. `filter` applies to every
        row.
        """
        wanted = filter_message(filter)
        size = await self.input_size()
        rows = Window(k=k, nprobe=nprobe, filter=wanted, size=window, target=self.target,
                      stall_timeout_s=self._timeout(timeout), retry=self.config.retry)
        with closing(TaskStream(self._stub.SearchStream, self._metadata, rows)) as stream:
            stream.feed(images, partial(prepare_row, size=size, limits=self.config.fetch),
                        max(1, workers))
            while True:
                stream.open()
                try:
                    while (due := await stream.receive()) is not None:
                        for outcome in due:
                            yield outcome
                except grpc.RpcError as err:  # the stream broke: send the unanswered again
                    await asyncio.sleep(stream.retry_after(err))
                    continue
                stream.check_finished()
                return

    async def add(
        self, images: Iterable[Any], ids: Iterable[str | None] | None = None,
        paths: Iterable[str] | None = None, timeout: float | None = None, *,
        labels: Iterable[Iterable[str] | None] | None = None,
        attributes: Iterable[dict[str, str | float] | None] | None = None,
    ) -> list[Added | LookalikeError]:
        """Adds images; each comes back as Added (durable) or the error that refused it.

        `labels` and `attributes`, when given, hold one entry per image: its labels (a list
        of text) and its attributes (key -> text or finite number); a bad one is that
        image's error.

        Retried on UNAVAILABLE only when every image has an id: the images not yet
        acknowledged are sent again, and one stored by an attempt whose answer was lost
        comes back as AlreadyExists rather than as a second copy. Without ids a retry
        could store duplicates, so the error is raised instead. `timeout` is the
        deadline of the whole call.
        """
        images = list(images)
        plan = AddPlan(images, ids, paths, labels, attributes)
        size = await self.input_size() if images else None
        plan.prepared(await asyncio.to_thread(prepare_all, images, size, self.config.fetch))
        delays = (self.config.retry if plan.idempotent else NO_RETRY).delays()
        while requests := plan.requests():
            try:
                async for answer in self._stub.Add(iter(requests), metadata=self._metadata,
                                                   timeout=self._timeout(timeout)):
                    plan.answer(answer, self.target)
                break
            except grpc.RpcError as err:  # a write into a broken stream is INTERNAL in aio
                await asyncio.sleep(retry_delay(err, delays, retryable=stream_lost(err),
                                                target=self.target, what="add"))
        return plan.results()

    async def delete(self, ids: Iterable[str], timeout: float | None = None
                     ) -> tuple[int, list[str]]:
        """Deletes ids; returns (how many were deleted, the ids that were not there).

        Retried on UNAVAILABLE: deleting twice is harmless, though ids deleted by an
        attempt whose answer was lost are then reported as missing.
        """
        request = delete_request(ids)
        return delete_result(await self._unary(self._stub.Delete, request, timeout, "delete"))

    async def browse(self, filter: Filter | None = None, page_size: int = 100,
                     page_token: str = "", with_vectors: bool = False,
                     timeout: float | None = None) -> Page:
        """One page of the stored images in the order they were added (all, or those
        `filter` matches); pass its next_page_token for the next ("" on the last page).
        A token works only with the same collection and filter."""
        request = browse_request(filter, page_size, page_token, with_vectors)
        return page_of(await self._unary(self._stub.Browse, request, timeout, "browse"),
                       request)

    async def browse_all(self, filter: Filter | None = None, page_size: int = 100,
                         with_vectors: bool = False, timeout: float | None = None
                         ) -> AsyncIterator[Item]:
        """Every stored image (that `filter` matches), page after page; `timeout` is per
        page."""
        token = ""
        while True:
            page = await self.browse(filter, page_size, token, with_vectors, timeout)
            items = page.items
            for item in items:
                yield item
            if not page.next_page_token:
                return
            token = page.next_page_token

    async def count(self, filter: Filter | None = None, timeout: float | None = None) -> int:
        """How many stored images `filter` matches (all of them without one)."""
        request = pb.CountRequest(filter=filter_message(filter))
        return count_of(await self._unary(self._stub.Count, request, timeout, "count"))

    async def get(self, ids: Iterable[str], with_vectors: bool = False,
                  timeout: float | None = None) -> tuple[list[Item], list[str]]:
        """The stored rows of ids (at most 1000), in the order asked, and the missing ids."""
        request = get_request(ids, with_vectors)
        return got_of(await self._unary(self._stub.Get, request, timeout, "get"), request)

    async def update(
        self, *, ids: Iterable[str] | None = None, cluster: int | None = None,
        filter: Filter | None = None, add_labels: Iterable[str] | None = None,
        remove_labels: Iterable[str] | None = None,
        set_attributes: dict[str, str | float] | None = None,
        clear_attributes: Iterable[str] | None = None, timeout: float | None = None,
    ) -> Updated:
        """Changes the labels and attributes of given ids, a cluster's members, or a
        filter's matches (exactly one), in one transaction: all of them or none.

        Retried on UNAVAILABLE: the same change applied twice leaves the same result.
        """
        request = update_request(ids=ids, cluster=cluster, filter=filter,
                                 add_labels=add_labels, remove_labels=remove_labels,
                                 set_attributes=set_attributes,
                                 clear_attributes=clear_attributes)
        return updated_of(await self._unary(self._stub.Update, request, timeout, "update"))

    async def name_cluster(self, cluster: int, name: str, timeout: float | None = None) -> str:
        """Names a cluster ("" clears its name); returns the name it had."""
        request = name_cluster_request(cluster, name)
        response = await self._unary(self._stub.NameCluster, request, timeout, "name_cluster")
        return response.previous

    async def thumbnails(self, ids: Iterable[str], size: int = 128,
                         timeout: float | None = None) -> list[Thumbnail]:
        """Thumbnails of stored ids, their longer side at most size (16-512) pixels, in the
        order asked: JPEGs the server makes from the stored files, transparency on white.
        An id whose file is gone or unreadable comes back with that status, not an error.
        More than 100 ids are asked 100 at a time; `timeout` is per call."""
        out: list[Thumbnail] = []
        for request in thumbnail_requests(ids, size):
            response = await self._unary(self._stub.Thumbnail, request, timeout, "thumbnails")
            out.extend(thumbnails_of(response, request))
        return out

    async def map(self, chunk_size: int = 0, timeout: float | None = None) -> CollectionMap:
        """The collection's 2-D map: every stored image's position, cluster, and whether it
        was placed since the map was computed. CollectionError (FAILED_PRECONDITION) when
        the collection has none yet (`lookalike map DIR` makes one). `timeout` is the
        deadline of the whole stream; it is tried again while the server is UNAVAILABLE."""
        request = map_request(chunk_size)
        delays = self.config.retry.delays()
        while True:
            assembly = MapAssembly()
            chunks = self._stub.Map(request, timeout=self._timeout(timeout),
                                    metadata=self._metadata)
            try:
                async for chunk in chunks:
                    assembly.add(parsed(chunk, self.target))
                return assembly.result()
            except grpc.RpcError as err:
                delay = retry_delay(err, delays, retryable=is_retryable(err),
                                    target=self.target, what="map")
            await asyncio.sleep(delay)

    async def info(self, timeout: float | None = None) -> CollectionInfo:
        """What is served: model, input size, counts, clusters, versions."""
        response = await self._unary(self._stub.Info, pb.InfoRequest(), timeout, "info")
        return collection_info(response)

    async def health(self, timeout: float | None = None) -> str:
        """The standard health status: "SERVING", "NOT_SERVING", ..."""
        request = health_pb2.HealthCheckRequest()
        return serving_status(await self._unary(self._health.Check, request, timeout,
                                                "health"))

    async def input_size(self) -> int | None:
        """The side the served model wants images at, when downsizing is on (cached)."""
        if not self.config.downsize:
            return None
        if self._size is None:
            self._size = input_size(await self.info())
        return self._size

    @staticmethod
    def plot(result: SearchResult, path: str | Path, **options: Any) -> Path:
        """Writes a PNG of the query beside its neighbours (lookalike.present.plot.plot_result)."""
        from lookalike.present.plot import plot_result

        return plot_result(result, path, **options)

    async def _unary(self, rpc: Any, request: Any, timeout: float | None, what: str) -> Any:
        """rpc(request), tried again after each UNAVAILABLE as the retry policy allows."""
        delays = self.config.retry.delays()
        while True:
            try:
                return parsed(await rpc(request, timeout=self._timeout(timeout),
                                        metadata=self._metadata), self.target)
            except grpc.RpcError as err:
                await asyncio.sleep(retry_delay(err, delays, retryable=is_retryable(err),
                                                target=self.target, what=what))

    def _timeout(self, timeout: float | None) -> float:
        return timeout or self.config.timeout_s
