"""What the server and the pipeline need from a collection, whatever stores its vectors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np

from lookalike.common.errors import InvalidArgument
from lookalike.indexer.recluster import ReclusterConfig, ReclusterReport

NO_ROWS: Mapping[int, Row] = MappingProxyType({})


class Row(NamedTuple):
    """One stored image: its row number (never reused), id, stored path and cluster."""

    rowid: int
    id: str
    path: str
    cluster: int


class Hits(NamedTuple):
    """Search results for n queries, nearest first, and the rows they name.

    distances: (n, k) float32 squared L2 distances; inf past the last hit.
    rowids: (n, k) int64 row numbers; -1 past the last hit (padding is only ever at the end).
    clusters: (n,) int64, each query's nearest cluster.
    rows: the Row of every row number in rowids, read in the same view as the scan: a hit
        never names a row that is gone, and rows names nothing else.
    """

    distances: np.ndarray
    rowids: np.ndarray
    clusters: np.ndarray
    rows: Mapping[int, Row] = NO_ROWS


@dataclass(frozen=True)
class Description:
    """What Info reports about a collection beyond its cluster sizes."""

    model_fingerprint: str
    embedding_dim: int
    format_version: str
    default_nprobe: int
    store: str = "local"  # or the Milvus address holding the images


def check_search(k: int, nprobe: int | None, max_k: int | None = None) -> None:
    """The one check of a search's k and nprobe (nprobe 0 or None: the default).

    Raises:
        InvalidArgument: k below 1 or above max_k, or nprobe below 0.
    """
    if k < 1:
        raise InvalidArgument(f"k must be at least 1, got {k}")
    if max_k is not None and k > max_k:
        raise InvalidArgument(f"k must be at most {max_k}, got {k}")
    if nprobe is not None and nprobe < 0:
        raise InvalidArgument(f"nprobe must be 0 (the default) or more, got {nprobe}")


@runtime_checkable
class CollectionLike(Protocol):
    """A searchable, changeable collection of image embeddings and their rows.

    Every method may be called from any thread at any time: searches run side by side, and
    adds and deletes are serialized among themselves without stopping searches for long.
    Errors are the domain errors of lookalike.common.errors; besides those listed, a damaged
    collection raises CollectionError, a full disk StorageFull, and a collection opened only
    for reading refuses add and delete with Unavailable.
    """

    def search(self, queries: np.ndarray, k: int, nprobe: int | None = None) -> Hits:
        """The k nearest stored images of each of the (n, dim) queries, with their rows.

        nprobe clusters nearest each query are scanned: 0 or None means the collection's
        default, more than it has means all. Scan and rows are one consistent view: an image
        deleted before the call returns is not among the hits. Fewer than k stored images
        leaves padding (-1, inf) at the end.

        Raises:
            InvalidArgument: queries of another dimension, or a k or nprobe check_search
                refuses.
        """
        ...

    def add(self, vectors: np.ndarray, paths: list[str], ids: list[str | None]) -> list[Row]:
        """Stores (n, dim) vectors with their paths and ids (None: one is made up).

        All or nothing; on return the rows are durable (they survive a crash or power loss)
        and searchable.

        Raises:
            InvalidArgument: mismatched lengths, another dimension, or an id or path refused.
            AlreadyExists: an id is taken or given twice; nothing is stored.
        """
        ...

    def delete(self, ids: list[str]) -> tuple[list[Row], list[str]]:
        """Deletes the ids that exist: (deleted rows, missing ids).

        On return the deletion is durable and no search returns those rows.
        """
        ...

    def lookup(self, id: str) -> tuple[Row, np.ndarray]:
        """A stored image's row and its (dim,) float32 vector.

        Raises:
            NotFound: no image has that id.
        """
        ...

    def describe(self) -> Description:
        """The model fingerprint, embedding dimension, format version and default nprobe."""
        ...

    def cluster_sizes(self) -> list[int]:
        """The number of stored images in each cluster, by cluster number."""
        ...

    def recluster(self, config: ReclusterConfig | None = None,
                  progress: bool = False) -> ReclusterReport:
        """Fits new centroids to every stored vector and switches the collection to them, the
        way its store does it safely (one SQLite transaction; a new Milvus generation behind
        an alias, while servers go on). Searches go on meanwhile.

        Raises:
            Unavailable: opened read-only.
            InvalidArgument: the collection is empty.
        """
        ...

    def close(self) -> None:
        """Releases the collection; every acknowledged change is already durable."""
        ...
