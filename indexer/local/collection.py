"""A collection: SQLite as the durable truth, per-cluster Faiss flat indexes in memory."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from lookalike.common.errors import InvalidArgument, NotFound, Unavailable
from lookalike.common.filters import Filter
from lookalike.common.labels import Payload
from lookalike.indexer.checks import check_add, check_queries, check_rows, drop_missing
from lookalike.indexer.clustering import route
from lookalike.indexer.interface import NO_ROWS, Description, Hits, Row, check_search
from lookalike.indexer.local.browsing import Browsing
from lookalike.indexer.local.create import write_collection
from lookalike.indexer.local.filtered import search_selected
from lookalike.indexer.local.following import Following
from lookalike.indexer.local.integrity import corrupt_named
from lookalike.indexer.local.rwlock import ReadWriteLock
from lookalike.indexer.local.store import MetadataStore
from lookalike.indexer.lock import FolderLock, GroupWriteLock, require_holder
from lookalike.indexer.manifest import DATABASE_FILE, MODEL_DIR, Manifest, read_manifest
from lookalike.indexer.recluster import ReclusterConfig, ReclusterReport

logger = logging.getLogger(__name__)



class Collection(Following, Browsing):
    """Search, add and delete over one collection folder: the Faiss + SQLite CollectionLike.

    Labels, attributes and cluster names live in SQLite (payload.py) and, for filters, in
    an in-memory inverted index (PayloadIndex) kept current exactly as the Faiss indexes
    are: by this process's own writes and by the change log of the others'.

    Searches share a readers-writer lock, so they run in parallel; adds, deletes and
    reclustering are serialized by a writer mutex, and stop searches only for the moment
    they change the in-memory indexes (never during the fsync of their SQLite commit).

    One process at a time opens a folder for writing (FolderLock); read-only opens take no
    lock and see the collection as it was when they opened it.

    Shared opens (a server group's workers, while its parent holds the FolderLock) all write
    the folder, each following the others' writes through the change log (following.py).
    A shared open maps the group's vector snapshot when it is current (snapshot.py).
    """

    def __init__(self, folder: Path, manifest: Manifest, store: MetadataStore,
                 lock: FolderLock | None = None, group: GroupWriteLock | None = None) -> None:
        self.folder = folder
        self.manifest = manifest
        self.store = store
        self.dim = manifest.embedding_dim
        self.read_only = lock is None and group is None
        self.shared = group is not None
        self._rw = ReadWriteLock()
        self._writer = threading.RLock()
        # Held while the in-memory indexes and _seq change: by a writer applying its own
        # write, and by a search catching up, which must never wait for _writer (held by a
        # thread queued for the group's lock behind another process's reclustering).
        self._apply = threading.Lock()
        self._lock = lock
        self._group = group
        self._depth = 0  # nested writing() holds in this process: the group lock is taken once
        self._seq = 0  # the last change-log entry the in-memory indexes reflect
        self._version = -1  # data_version when they were last brought up to date
        self._recheck_at = 0.0  # when follow() next asks SQLite itself, not only the group
        self.reload()

    @classmethod
    def create(
        cls, folder: str | Path, model_dir: str | Path, manifest: Manifest,
        vectors: np.ndarray, paths: list[str], ids: list[str | None], centroids: np.ndarray,
        default_nprobe: int = 1,
    ) -> Collection:
        """Writes a new collection folder (refusing to overwrite one) and opens it."""
        folder = Path(folder)
        paths = check_rows(paths, ids)
        write_collection(folder, model_dir, manifest, vectors, paths, ids, centroids,
                         default_nprobe)
        return cls.open(folder)

    @classmethod
    def open(cls, folder: str | Path, read_only: bool = False,
             shared: bool = False) -> Collection:
        """Opens a collection to serve and change it, or only to read it.

        shared: one of several processes of a server group that all write the folder while
            the group's parent holds its FolderLock (see the class docstring).

        Raises:
            CollectionLocked: (neither read_only nor shared) another process has it open for
                writing.
            Unavailable: (shared) no process holds the folder's lock.
            InvalidArgument: both read_only and shared.
            CollectionError, CollectionMismatch, NotFound: see read_manifest.
        """
        if read_only and shared:
            raise InvalidArgument("a collection is opened read-only or shared, not both")
        folder = Path(folder)
        manifest = read_manifest(folder)
        if shared:
            require_holder(folder)
        lock = None if read_only or shared else FolderLock(folder)
        group = GroupWriteLock(folder) if shared else None
        try:
            store = MetadataStore(folder / DATABASE_FILE, read_only=read_only)
        except BaseException:
            cls._abandon(None, lock, group)
            raise
        try:
            with corrupt_named(store.path):
                return cls(folder, manifest, store, lock, group)
        except BaseException:
            cls._abandon(store, lock, group)
            raise

    @staticmethod
    def _abandon(store: MetadataStore | None, lock: FolderLock | None,
                 group: GroupWriteLock | None) -> None:
        for part in (store, lock, group):
            if part is not None:
                part.close()

    @property
    def model_dir(self) -> Path:
        return self.folder / MODEL_DIR

    def replace_clustering(self, centroids: np.ndarray, rowids: np.ndarray,
                           clusters: np.ndarray, default_nprobe: int,
                           names: dict[int, str] | None = None) -> None:
        """Swaps in new centroids, every row's cluster, the default nprobe and (given) the
        cluster names in one SQLite transaction, then rebuilds the in-memory indexes from it.

        Raises:
            Unavailable: the collection was opened read-only.
        """
        self.lock_exclusive()
        with self.writing():
            self.store.set_clustering(centroids, rowids, clusters,
                                      {"default_nprobe": str(default_nprobe)}, names)
            self.reload()

    def all_vectors(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every stored (rowid, cluster, vector), in row order; hold writing() for a stable
        view."""
        return self.store.all_vectors(self.dim)

    def rows(self) -> list[Row]:
        """Every stored row (no vectors), in row order."""
        return self.store.rows()

    def recluster(self, config: ReclusterConfig | None = None,
                  progress: bool = False) -> ReclusterReport:
        """See CollectionLike.recluster: one SQLite transaction (local/recluster.py)."""
        from lookalike.indexer.local.recluster import recluster

        return recluster(self, config)

    def lock_exclusive(self) -> None:
        """Checks that this process alone may change the folder, as reclustering needs.

        A writable open already holds the folder's lock (other writers are refused at open).

        Raises:
            Unavailable: the collection was opened read-only.
        """
        if self.read_only:
            raise Unavailable(f"{self.folder} was opened read-only; it cannot be changed")

    @property
    def centroids(self) -> np.ndarray:
        return self._clusters.centroids

    @property
    def nlist(self) -> int:
        return self._clusters.nlist

    def __len__(self) -> int:
        self.follow()
        return sum(self._clusters.sizes())

    def cluster_sizes(self) -> list[int]:
        self.follow()
        with self._rw.read():
            return self._clusters.sizes()

    def search(self, queries: np.ndarray, k: int, nprobe: int | None = None,
               filter: Filter | None = None) -> Hits:
        """The k nearest stored images of each query, scanning its nprobe nearest clusters,
        with their rows: the scan and the rows' read share one hold of the read lock.
        With a filter, the k nearest that match (filtered.py plans the scan)."""
        return self._search(queries, k, nprobe, with_rows=True, filter=filter)

    def scan(self, queries: np.ndarray, k: int, nprobe: int | None = None) -> Hits:
        """search() without reading rows (Hits.rows stays empty): the vector scan alone, as
        benchmarks/index_bench.py compares it with Faiss's IndexIVFFlat."""
        return self._search(queries, k, nprobe, with_rows=False)

    def _search(self, queries: np.ndarray, k: int, nprobe: int | None, with_rows: bool,
                filter: Filter | None = None) -> Hits:
        queries = check_queries(queries, self.dim)
        check_search(k, nprobe)
        self.follow()
        rows, payloads = NO_ROWS, {}
        self._rw.acquire_read()
        try:
            clusters = self._clusters
            probes = min(nprobe or self.default_nprobe, clusters.nlist)
            if filter is None or filter.everything:
                distances, rowids, probe = clusters.search(queries, k, probes)
            else:
                distances, rowids, probe = search_selected(
                    clusters, queries, k, probes, self._select(filter))
            if with_rows:
                rows = self.store.describe(rowids.ravel().tolist())
                payloads = {r: p for r in rows if not (p := self._payloads.payload(r)).empty}
            names = self._names
        finally:
            self._rw.release_read()
        if with_rows:
            distances, rowids = drop_missing(distances, rowids, rows)
        return Hits(distances, rowids, probe[:, 0].copy(), rows, payloads, names)

    def lookup(self, id: str) -> tuple[Row, np.ndarray]:
        """A stored image's metadata and vector; NotFound if the id is unknown."""
        self.follow()
        rows = self.store.find([id])
        if not rows:
            raise NotFound(f"no image with id {id!r} in the collection")
        return rows[0], self.store.vector(rows[0].rowid, self.dim)

    def describe(self) -> Description:
        """The model fingerprint, embedding dimension, format version and default nprobe."""
        self.follow()
        return Description(self.manifest.model_fingerprint, self.dim,
                           str(self.manifest.format_version), self.default_nprobe)

    def add(self, vectors: np.ndarray, paths: list[str], ids: list[str | None],
            payloads: list[Payload] | None = None) -> list[Row]:
        """Stores vectors (and payloads) durably (one transaction), then makes them
        searchable."""
        vectors, paths = check_add(vectors, paths, ids, self.dim)
        if payloads is not None and len(payloads) != len(paths):
            raise InvalidArgument(f"got {len(payloads)} payloads for {len(paths)} images")
        self.lock_exclusive()
        with self.writing():
            clusters = route(vectors, self._clusters.quantizer)[:, 0]
            rows = self.store.insert(ids, paths, clusters, vectors, payloads)
            rowids = np.array([r.rowid for r in rows], np.int64)

            def change() -> None:
                self._clusters.add(clusters, vectors, rowids)
                if payloads is not None:
                    self._payloads.set(dict(zip(rowids.tolist(), payloads, strict=True)))
                self._payloads.changed()

            if rows:
                self._apply_own(len(rows), change)
        return rows

    def delete(self, ids: list[str]) -> tuple[list[Row], list[str]]:
        """Deletes ids durably and from search; returns (deleted rows, missing ids)."""
        self.lock_exclusive()
        with self.writing():
            rows = self.store.delete(ids)
            if rows:
                clusters = np.array([r.cluster for r in rows], np.int64)
                rowids = np.array([r.rowid for r in rows], np.int64)

                def change() -> None:
                    self._clusters.remove(clusters, rowids)
                    self._payloads.remove(rowids.tolist())

                self._apply_own(len(rows), change)
        found = {r.id for r in rows}
        return rows, [i for i in ids if i not in found]

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.store.close()
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        if self._group is not None:
            self._group.close()
