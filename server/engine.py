"""Turning requests into answers: decode in the caller's thread, embed and search in batches.

The Engine is free of gRPC plumbing so it can be called in-process (benchmarks, tests).
Each call passes `alive`, which says whether its caller still waits; work for a caller who
has gone away is dropped between stages.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from lookalike.common.decode import allow_pixels, decode_image
from lookalike.common.errors import CollectionError, DeadlineExceeded, InvalidArgument
from lookalike.common.fetch import fetch_url
from lookalike.common.filters import Filter
from lookalike.common.labels import EMPTY, Payload, check_cluster_name
from lookalike.encoder.embed import BATCH_SIZES, Embedder
from lookalike.indexer.clustering import imbalance
from lookalike.indexer.ids import check_ids
from lookalike.indexer.interface import (
    NO_NAMES,
    NO_PAYLOADS,
    NO_ROWS,
    CollectionLike,
    Row,
    check_search,
)
from lookalike.indexer.manifest import software_version
from lookalike.indexer.wire import (
    change_from,
    filter_from,
    item_to,
    payload_from,
    target_from,
)
from lookalike.proto.convert import attributes_to
from lookalike.proto.v1 import lookalike_pb2 as pb
from lookalike.server.batching import BatchConfig, Batcher
from lookalike.server.chunking import ChunkPlan, encode_in_chunks, time_buckets
from lookalike.server.config import ServerConfig
from lookalike.server.map_view import MapView
from lookalike.server.metrics import Metrics
from lookalike.server.thumbnails import Thumbnailer

logger = logging.getLogger(__name__)

Alive = Callable[[], bool]

# Far beyond any embedding, and small enough that squared distances stay finite in float32
# (a query of length 1e30 matched no centroid: OK with cluster -1 and no neighbours).
MAX_QUERY_NORM = 1e15
MAX_GET = 1000  # ids of one Get call


def always() -> bool:
    return True


@dataclass(frozen=True)
class Query:
    """One batch item: an image to encode or a ready vector; k=0 means encode only."""

    image: np.ndarray | None
    vector: np.ndarray | None
    k: int
    nprobe: int
    alive: Alive
    filter: Filter | None = None  # only images it matches (None: every image)


@dataclass(frozen=True)
class Answer:
    """A query's vector, and its nearest rows (empty when k was 0)."""

    vector: np.ndarray
    distances: np.ndarray
    rowids: np.ndarray
    cluster: int
    # The rows rowids name, read with the scan for the whole batch (see CollectionLike.search).
    rows: Mapping[int, Row]
    payloads: Mapping[int, Payload] = field(default_factory=lambda: NO_PAYLOADS)  # labels &c.
    names: Mapping[int, str] = field(default_factory=lambda: NO_NAMES)  # cluster names


class Engine:
    """Search, add, delete and describe over one collection, batching concurrent queries."""

    def __init__(
        self, collection: CollectionLike, embedder: Embedder, config: ServerConfig,
        metrics: Metrics | None = None,
    ) -> None:
        self.collection = collection
        self.dim = collection.describe().embedding_dim
        self.embedder = embedder
        self.config = config
        allow_pixels(config.max_pixels)  # a --max-pixels above Pillow's own guard still works
        self.metrics = metrics or Metrics()
        # Read once while loading, before serving: a Milvus-mode collection counts its
        # clusters on the first read only, and keeps them up from there without a call.
        collection.cluster_sizes()
        self._labelling("label_counts")  # likewise: Milvus scans them once, here
        self.metrics.track_images(lambda: sum(self.collection.cluster_sizes()))
        costs = time_buckets(embedder, BATCH_SIZES, embedder.image_size)
        self.plan = ChunkPlan(costs, config.max_batch)
        logger.info("encoder bucket costs (ms): %s",
                    {b: round(t * 1000, 2) for b, t in costs.items()})
        # More decoders than cores only fight over the GIL and delay the batch leader.
        self.decode_slots = threading.BoundedSemaphore(config.decode_threads or os.cpu_count() or 1)
        self.batcher: Batcher[Query, Answer | Exception] = Batcher(
            self._run_batch,
            BatchConfig(window_s=config.batch_window_ms / 1000, max_batch=config.max_batch),
            on_batch=self.metrics.batch_size.observe,
        )
        self.thumbnails = Thumbnailer(collection, config)  # the Thumbnail call
        self.map = MapView(collection, collection.folder)  # the Map call

    def search(self, request: pb.SearchRequest, alive: Alive = always) -> pb.SearchResponse:
        """The k nearest images to the request's query (a stored id's own image left out)."""
        # Refused here, before any fetch, decode or batch, with the collection's own check.
        check_search(request.k, request.nprobe, self.config.max_k)
        chosen = filter_from(request.filter) if request.HasField("filter") else None
        chosen = None if chosen is None or chosen.everything else chosen
        data = self._fetch(request.url) if request.WhichOneof("query") == "url" else None
        own_id = request.id if request.WhichOneof("query") == "id" else None
        with self.batcher.arrival() as arrival:
            image, vector = self._query_input(request, data)
            self._check_alive(alive, "decode")
            # A stored image is not its own neighbour: ask for one more and drop it.
            k = request.k + (own_id is not None)
            answer = arrival.submit(Query(image, vector, k, request.nprobe, alive, chosen))
        if isinstance(answer, Exception):
            raise answer
        self._check_alive(alive, "search")
        return self.respond(answer, request.k, own_id)

    def _query_input(
        self, request: pb.SearchRequest, fetched: bytes | None
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(image, None) to encode, or (None, vector) ready to search."""
        kind = request.WhichOneof("query")
        if kind == "image":
            return self.decode(request.image), None
        if kind == "url" and fetched is not None:
            return self.decode(fetched), None
        if kind == "id":
            if not request.id:
                raise InvalidArgument("the query id is empty")
            check_ids([request.id])  # one no add accepts is refused as in an add
            return None, self.collection.lookup(request.id)[1]
        if kind == "vector":
            values = np.asarray(request.vector.values, np.float32)
            if values.shape != (self.dim,):
                raise InvalidArgument(
                    f"the query vector has {values.size} values; this collection's embeddings "
                    f"have {self.dim}"
                )
            check_query_vector(values)
            return None, values
        raise InvalidArgument("no query given: set one of image, url, id or vector")

    def _fetch(self, url: str) -> bytes:
        if not self.config.allow_url_fetch:
            raise InvalidArgument(
                "this server does not fetch URLs; fetch the image yourself and send its "
                "bytes (the lookalike SDK and CLI do this for you)"
            )
        with self.metrics.stage("fetch"):
            return fetch_url(url, self.config.fetch_limits())

    def decode(self, data: bytes) -> np.ndarray:
        """Decodes in the calling thread: Pillow releases the GIL, so callers overlap."""
        with self.decode_slots, self.metrics.stage("decode"):
            return decode_image(data, self.embedder.image_size, self.config.max_pixels)

    def _check_alive(self, alive: Alive, stage: str) -> None:
        if not alive():
            self.metrics.abandoned.labels(stage).inc()
            raise DeadlineExceeded(f"the caller went away or its deadline passed; the work "
                                   f"was dropped after the {stage} stage")

    def _run_batch(self, queries: list[Query]) -> list[Answer | Exception]:
        """Encodes every image of the batch at once, then searches grouped by nprobe."""
        out: list[Answer | Exception | None] = [None] * len(queries)
        live = []
        for i, q in enumerate(queries):
            try:
                self._check_alive(q.alive, "queue")
                live.append(i)
            except DeadlineExceeded as exc:
                out[i] = exc
        vectors = self._encode(queries, live)
        for i in live:
            if not np.isfinite(vectors[i]).all():
                out[i] = self._non_finite(queries[i])
        live = [i for i in live if out[i] is None]
        # One search call per (nprobe, filter): queries of a batch share both or are apart.
        for key in dict.fromkeys((queries[i].nprobe, queries[i].filter) for i in live):
            group = [i for i in live
                     if (queries[i].nprobe, queries[i].filter) == key and queries[i].k > 0]
            if group:
                self._search_group(queries, group, vectors, out)
        empty = np.empty(0)
        for i in live:
            if queries[i].k == 0:
                out[i] = Answer(vectors[i], empty, empty, -1, NO_ROWS)
        return out  # type: ignore[return-value]  # every slot is filled above

    def _non_finite(self, query: Query) -> CollectionError:
        """A NaN or infinite embedding would route nowhere, or poison the index if added."""
        what = ("the model turned this image into" if query.image is not None
                else "the stored vector of this id is")
        logger.error("%s a non-finite embedding; the model or collection is damaged", what)
        return CollectionError(f"{what} a non-finite (NaN or infinite) embedding: the served "
                               "model or collection is damaged; nothing was searched or stored")

    def _encode(self, queries: Sequence[Query], live: list[int]) -> dict[int, np.ndarray]:
        vectors = {i: queries[i].vector for i in live if queries[i].vector is not None}
        todo = [i for i in live if queries[i].image is not None]
        if todo:
            with self.metrics.stage("encode"):
                images = np.stack([queries[i].image for i in todo])
                embedded = encode_in_chunks(self.embedder, images, self.plan)
            vectors.update(zip(todo, embedded, strict=True))
        return vectors  # type: ignore[return-value]

    def _search_group(
        self, queries: Sequence[Query], group: list[int], vectors: dict[int, np.ndarray],
        out: list[Answer | Exception | None],
    ) -> None:
        k = max(queries[i].k for i in group)
        with self.metrics.stage("search"):
            # One call for the whole group: the scan and its rows, read together.
            stacked = np.stack([vectors[i] for i in group])
            nprobe, chosen = queries[group[0]].nprobe or None, queries[group[0]].filter
            hits = (self.collection.search(stacked, k, nprobe) if chosen is None
                    else self.collection.search(stacked, k, nprobe, filter=chosen))
        for row, i in enumerate(group):
            # Rows are sorted by distance, so each query's top k is a prefix of the top max-k.
            kk = queries[i].k
            out[i] = Answer(vectors[i], hits.distances[row, :kk], hits.rowids[row, :kk],
                            int(hits.clusters[row]), hits.rows, hits.payloads, hits.names)

    def respond(self, answer: Answer, k: int, own_id: str | None = None) -> pb.SearchResponse:
        neighbors = []
        for distance, rowid in zip(answer.distances.tolist(), answer.rowids.tolist(), strict=True):
            meta = answer.rows.get(rowid)
            if meta is None or meta.id == own_id:
                continue  # -1 padding, or the query's own stored image
            payload = answer.payloads.get(rowid, EMPTY)
            neighbors.append(pb.Neighbor(
                id=meta.id, path=meta.path, distance=distance, cluster=meta.cluster,
                labels=sorted(payload.labels), attributes=attributes_to(payload.attributes),
                cluster_name=answer.names.get(meta.cluster, "")))
        return pb.SearchResponse(cluster=answer.cluster, neighbors=neighbors[:k],
                                 cluster_name=answer.names.get(answer.cluster, ""))

    def add(self, request: pb.AddRequest, alive: Alive = always) -> pb.AddResponse:
        """Embeds and stores one image; answered once it is durable."""
        # Checked before the image is decoded: a bad label costs no encoder time.
        payload = payload_from(request.labels, request.attributes)
        with self.batcher.arrival() as arrival:
            image = self.decode(request.image)
            self._check_alive(alive, "decode")
            answer = arrival.submit(Query(image, None, 0, 0, alive))
        if isinstance(answer, Exception):
            raise answer
        more = {} if payload.empty else {"payloads": [payload]}
        row = self.collection.add(answer.vector[None], [request.path], [request.id or None],
                                  **more)[0]
        self.metrics.images_changed()
        return pb.AddResponse(tag=request.tag, id=row.id, cluster=row.cluster)

    def delete(self, request: pb.DeleteRequest) -> pb.DeleteResponse:
        if not request.ids:
            raise InvalidArgument("no ids given to delete")
        rows, missing = self.collection.delete(list(request.ids))
        self.metrics.images_changed()
        return pb.DeleteResponse(deleted=len(rows), missing=missing)

    def info(self) -> pb.InfoResponse:
        about = self.collection.describe()
        sizes = self.collection.cluster_sizes()
        return pb.InfoResponse(
            model_fingerprint=about.model_fingerprint,
            model_config_json=self.embedder.config.to_json(),
            embedding_dim=about.embedding_dim,
            input_size=self.embedder.image_size,
            count=sum(sizes),
            clusters=len(sizes),
            cluster_sizes=sizes,
            default_nprobe=about.default_nprobe,
            format_version=about.format_version,
            software_version=software_version(),
            imbalance=imbalance(sizes),
            base_model=self.embedder.base_model,
            store=about.store,
            cluster_names=[pb.ClusterName(cluster=c, name=n)
                           for c, n in sorted(self._labelling("cluster_names").items())],
            label_counts=[pb.LabelCount(label=label, count=n) for label, n in sorted(
                self._labelling("label_counts").items(), key=lambda x: (-x[1], x[0]))],
        )

    def _labelling(self, method: str) -> dict:
        """Names or label counts; empty from a store without them yet (the Milvus store
        gains them in issue 25's Milvus part), so its Info keeps working."""
        read = getattr(self.collection, method, None)
        return read() if read is not None else {}

    def browse(self, request: pb.BrowseRequest) -> pb.BrowseResponse:
        chosen = filter_from(request.filter) if request.HasField("filter") else None
        page = self.collection.browse(chosen, request.page_size, request.page_token,
                                      request.with_vectors)
        return pb.BrowseResponse(items=[item_to(i) for i in page.items],
                                 next_page_token=page.next_token)

    def count(self, request: pb.CountRequest) -> pb.CountResponse:
        chosen = filter_from(request.filter) if request.HasField("filter") else None
        return pb.CountResponse(count=self.collection.count(chosen))

    def get(self, request: pb.GetRequest) -> pb.GetResponse:
        if not request.ids:
            raise InvalidArgument("no ids given to get")
        if len(request.ids) > MAX_GET:
            raise InvalidArgument(f"{len(request.ids)} ids; at most {MAX_GET} per call")
        items, missing = self.collection.get(list(request.ids), request.with_vectors)
        return pb.GetResponse(items=[item_to(i) for i in items], missing=missing)

    def update(self, request: pb.UpdateRequest) -> pb.UpdateResponse:
        target, change = target_from(request), change_from(request)
        done = self.collection.update(target, change)
        return pb.UpdateResponse(updated=done.updated, missing=done.missing)

    def name_cluster(self, request: pb.NameClusterRequest) -> pb.NameClusterResponse:
        name = check_cluster_name(request.name)
        return pb.NameClusterResponse(previous=self.collection.name_cluster(request.cluster,
                                                                             name))


def check_query_vector(values: np.ndarray) -> None:
    """Refuses a query vector that no search could answer: NaN, infinite, or absurdly long."""
    if not np.isfinite(values).all():
        raise InvalidArgument("the query vector has NaN or infinite values; every value must "
                              "be a finite number")
    norm = float(np.linalg.norm(values.astype(np.float64)))
    if norm > MAX_QUERY_NORM:
        raise InvalidArgument(
            f"the query vector's length is {norm:.3g}, over the {MAX_QUERY_NORM:g} no embedding "
            "comes near; send an embedding of this collection's model")
