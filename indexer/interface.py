"""What the server and the pipeline need from a collection, whatever stores its vectors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np

from lookalike.common.errors import InvalidArgument
from lookalike.common.filters import Filter
from lookalike.common.labels import Change, Payload
from lookalike.indexer.recluster import ReclusterConfig, ReclusterReport

NO_ROWS: Mapping[int, Row] = MappingProxyType({})
NO_PAYLOADS: Mapping[int, Payload] = MappingProxyType({})
NO_NAMES: Mapping[int, str] = MappingProxyType({})


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
    payloads: the labels and attributes of the rows in `rows` that carry any.
    names: every named cluster's name, by cluster number.
    """

    distances: np.ndarray
    rowids: np.ndarray
    clusters: np.ndarray
    rows: Mapping[int, Row] = NO_ROWS
    payloads: Mapping[int, Payload] = NO_PAYLOADS
    names: Mapping[int, str] = NO_NAMES


class Item(NamedTuple):
    """One stored image as Browse and Get answer it: row, labels, attributes, cluster name,
    and its (dim,) float32 vector when asked for."""

    row: Row
    payload: Payload
    cluster_name: str = ""
    vector: np.ndarray | None = None


class Page(NamedTuple):
    """One page of a browse; next_token is empty on the last page."""

    items: list[Item]
    next_token: str


@dataclass(frozen=True)
class Target:
    """Which images an update changes: exactly one of ids, cluster or filter."""

    ids: tuple[str, ...] | None = None
    cluster: int | None = None
    filter: Filter | None = None

    def __post_init__(self) -> None:
        given = (self.ids is not None) + (self.cluster is not None) + (self.filter is not None)
        if given != 1:
            raise InvalidArgument("an update names its target: ids, a cluster or a filter")
        if self.ids is not None and not self.ids:
            raise InvalidArgument("no ids given to update")


class Updated(NamedTuple):
    """What an update did: how many stored images it changed, and the ids it did not find."""

    updated: int
    missing: list[str]


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
    """A searchable, changeable collection of image embeddings and their rows, kept in (or
    described by) the folder `folder`.

    Every method may be called from any thread at any time: searches run side by side, and
    adds and deletes are serialized among themselves without stopping searches for long.
    Errors are the domain errors of lookalike.common.errors; besides those listed, a damaged
    collection raises CollectionError, a full disk StorageFull, and a collection opened only
    for reading refuses add and delete with Unavailable.
    """

    folder: Path  # the collection folder (a Milvus-mode one keeps the model and map there)

    def search(self, queries: np.ndarray, k: int, nprobe: int | None = None,
               filter: Filter | None = None) -> Hits:
        """The k nearest stored images of each of the (n, dim) queries, with their rows.

        nprobe clusters nearest each query are scanned: 0 or None means the collection's
        default, more than it has means all. Scan and rows are one consistent view: an image
        deleted before the call returns is not among the hits. Fewer than k stored images
        leaves padding (-1, inf) at the end.

        filter: only images it matches (filters.matches) are answered, and they are the k
        nearest that match: when k images match, k answer, widening past nprobe as needed.

        Raises:
            InvalidArgument: queries of another dimension, or a k or nprobe check_search
                refuses.
        """
        ...

    def add(self, vectors: np.ndarray, paths: list[str], ids: list[str | None],
            payloads: list[Payload] | None = None) -> list[Row]:
        """Stores (n, dim) vectors with their paths, ids (None: one is made up) and payloads
        (labels and attributes, already checked by labels.check_payload; None: none).

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

    def browse(self, filter: Filter | None = None, page_size: int = 100, page_token: str = "",
               with_vectors: bool = False) -> Page:
        """Up to page_size stored images that filter matches, in row order, after the row
        the token names (pages.make_token/read_token, keyed by a per-collection secret).

        Raises:
            InvalidArgument: a bad page size, or a token of another collection or filter, or
                altered.
        """
        ...

    def count(self, filter: Filter | None = None) -> int:
        """How many stored images filter matches (all of them when None)."""
        ...

    def get(self, ids: list[str], with_vectors: bool = False) -> tuple[list[Item], list[str]]:
        """(the stored images of ids, in the order given, the ids not stored)."""
        ...

    def update(self, target: Target, change: Change) -> Updated:
        """Applies change to every image of target in one transaction: all or nothing,
        durable on return, seen by every process's next call.

        Raises:
            InvalidArgument: an image would pass MAX_LABELS or MAX_ATTRIBUTES (nothing is
                changed), or a cluster number outside the collection.
            Unavailable: opened read-only.
        """
        ...

    def name_cluster(self, cluster: int, name: str) -> str:
        """Names a cluster (an empty name clears it; checked by labels.check_cluster_name);
        returns its previous name, empty when none.

        Raises:
            InvalidArgument: a cluster number outside the collection.
            Unavailable: opened read-only.
        """
        ...

    def cluster_names(self) -> dict[int, str]:
        """Every named cluster's name, by cluster number."""
        ...

    def label_counts(self) -> dict[str, int]:
        """How many images carry each label."""
        ...

    def rows(self) -> list[Row]:
        """Every stored row (no vectors), in row order."""
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
        an alias, while servers go on). Searches go on meanwhile. Labels and attributes stay
        with their images; cluster names follow recluster.carry_names, and the report lists
        the names moved and dropped.

        Raises:
            Unavailable: opened read-only.
            InvalidArgument: the collection is empty.
        """
        ...

    def close(self) -> None:
        """Releases the collection; every acknowledged change is already durable."""
        ...
