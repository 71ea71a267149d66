"""Turning requests into vectors and vectors into answers: decode, embed, search, describe."""

from __future__ import annotations

import logging
import threading

import numpy as np

from lookalike.common.errors import InvalidArgument
from lookalike.common.fetch import fetch_url
from lookalike.encoder.data import decode_image
from lookalike.encoder.embed import Embedder
from lookalike.indexer.collection import Collection, Hits
from lookalike.indexer.manifest import software_version
from lookalike.proto.v1 import lookalike_pb2 as pb
from lookalike.server.config import ServerConfig

logger = logging.getLogger(__name__)


class Engine:
    """The serving logic, free of gRPC plumbing so it can be called in-process."""

    def __init__(self, collection: Collection, embedder: Embedder, config: ServerConfig) -> None:
        self.collection = collection
        self.embedder = embedder
        self.config = config
        self._embed_lock = threading.Lock()

    def embed_bytes(self, data: bytes) -> np.ndarray:
        image = decode_image(data, self.embedder.image_size, self.config.max_pixels)
        with self._embed_lock:
            return self.embedder(image[None])[0]

    def query_vector(self, request: pb.SearchRequest) -> tuple[np.ndarray, str | None]:
        """The query's embedding, and its own id when it is a stored image."""
        kind = request.WhichOneof("query")
        if kind == "image":
            return self.embed_bytes(request.image), None
        if kind == "id":
            if not request.id:
                raise InvalidArgument("the query id is empty")
            _, vector = self.collection.lookup(request.id)
            return vector, request.id
        if kind == "vector":
            values = np.asarray(request.vector.values, np.float32)
            if values.shape != (self.collection.dim,):
                raise InvalidArgument(
                    f"the query vector has {values.size} values; this collection's embeddings "
                    f"have {self.collection.dim}"
                )
            return values, None
        if kind == "url":
            if not self.config.allow_url_fetch:
                raise InvalidArgument(
                    "this server does not fetch URLs; fetch the image yourself and send its "
                    "bytes (the lookalike SDK and CLI do this for you)"
                )
            return self.embed_bytes(fetch_url(request.url)), None
        raise InvalidArgument("no query given: set one of image, url, id or vector")

    def check_k(self, k: int) -> None:
        if k <= 0:
            raise InvalidArgument(f"k must be at least 1, got {k}")
        if k > self.config.max_k:
            raise InvalidArgument(f"k must be at most {self.config.max_k}, got {k}")

    def search(self, request: pb.SearchRequest) -> pb.SearchResponse:
        self.check_k(request.k)
        if request.nprobe < 0:
            raise InvalidArgument(f"nprobe must be 0 (the default) or more, got {request.nprobe}")
        vector, own_id = self.query_vector(request)
        # A stored image is not its own neighbour: ask for one more and drop it.
        k = request.k + (own_id is not None)
        hits = self.collection.search(vector[None], k, request.nprobe or None)
        return self.respond(hits, 0, request.k, own_id)

    def respond(self, hits: Hits, row: int, k: int, own_id: str | None = None) -> pb.SearchResponse:
        rows = self.collection.describe(hits.rowids[row])
        neighbors = []
        for distance, rowid in zip(hits.distances[row], hits.rowids[row]):
            meta = rows.get(int(rowid))
            if meta is None or meta.id == own_id:
                continue  # -1 padding, or deleted between search and lookup
            neighbors.append(pb.Neighbor(id=meta.id, path=meta.path,
                                         distance=float(distance), cluster=meta.cluster))
        return pb.SearchResponse(cluster=int(hits.clusters[row]), neighbors=neighbors[:k])

    def add(self, request: pb.AddRequest) -> pb.AddResponse:
        vector = self.embed_bytes(request.image)
        row = self.collection.add(vector[None], [request.path], [request.id or None])[0]
        return pb.AddResponse(tag=request.tag, id=row.id, cluster=row.cluster)

    def delete(self, request: pb.DeleteRequest) -> pb.DeleteResponse:
        if not request.ids:
            raise InvalidArgument("no ids given to delete")
        rows, missing = self.collection.delete(list(request.ids))
        return pb.DeleteResponse(deleted=len(rows), missing=missing)

    def info(self) -> pb.InfoResponse:
        c = self.collection
        sizes = c.cluster_sizes()
        mean = sum(sizes) / len(sizes) if sizes else 0.0
        return pb.InfoResponse(
            model_fingerprint=c.manifest.model_fingerprint,
            model_config_json=self.embedder.config.to_json(),
            embedding_dim=c.dim,
            input_size=self.embedder.image_size,
            count=sum(sizes),
            clusters=len(sizes),
            cluster_sizes=sizes,
            default_nprobe=c.default_nprobe,
            format_version=str(c.manifest.format_version),
            software_version=software_version(),
            imbalance=float(max(sizes) / mean) if mean else 0.0,
        )
