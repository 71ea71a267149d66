"""A collection: SQLite as the durable truth, per-cluster Faiss flat indexes in memory."""

from __future__ import annotations

import logging
import shutil
import sqlite3
import threading
from pathlib import Path
from typing import NamedTuple

import faiss
import numpy as np

from lookalike.common.errors import CollectionError, InvalidArgument, NotFound
from lookalike.indexer.clustering import assign
from lookalike.indexer.manifest import (
    DATABASE_FILE,
    MODEL_DIR,
    Manifest,
    checksum_files,
    read_manifest,
)
from lookalike.indexer.store import MetadataStore, Row

logger = logging.getLogger(__name__)


class Hits(NamedTuple):
    """Search results for n queries: (n, k) distances and row numbers (-1 = none)."""

    distances: np.ndarray
    rowids: np.ndarray
    clusters: np.ndarray  # (n,) each query's nearest cluster


class Collection:
    """Search, add and delete over one collection folder."""

    def __init__(self, folder: Path, manifest: Manifest, store: MetadataStore) -> None:
        self.folder = folder
        self.manifest = manifest
        self.store = store
        self.dim = manifest.embedding_dim
        self._lock = threading.RLock()
        self._load_clustering()

    @classmethod
    def create(
        cls, folder: str | Path, model_dir: str | Path, manifest: Manifest,
        vectors: np.ndarray, paths: list[str], ids: list[str | None], centroids: np.ndarray,
        default_nprobe: int = 1,
    ) -> Collection:
        """Writes a new collection folder (refusing to overwrite one) and opens it."""
        folder = Path(folder)
        if (folder / DATABASE_FILE).exists():
            raise InvalidArgument(f"{folder} already holds a collection; choose another --out")
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copytree(model_dir, folder / MODEL_DIR, dirs_exist_ok=True)
        store = MetadataStore(folder / DATABASE_FILE, create=True)
        clusters = assign(vectors, centroids)
        rows = store.insert(ids, paths, clusters, vectors)
        rowids = np.array([r.rowid for r in rows], np.int64)
        store.set_clustering(centroids, rowids, clusters, {"default_nprobe": str(default_nprobe)})
        store.close()
        manifest.checksums = checksum_files(
            folder, [f"{MODEL_DIR}/{p.name}" for p in sorted((folder / MODEL_DIR).iterdir())]
        )
        manifest.write(folder)
        return cls.open(folder)

    @classmethod
    def open(cls, folder: str | Path) -> Collection:
        folder = Path(folder)
        manifest = read_manifest(folder)
        store = MetadataStore(folder / DATABASE_FILE)
        try:
            return cls(folder, manifest, store)
        except sqlite3.DatabaseError as exc:
            store.close()
            raise CollectionError(f"{store.path} is corrupt: {exc}") from None
        except BaseException:
            store.close()
            raise

    @property
    def model_dir(self) -> Path:
        return self.folder / MODEL_DIR

    def _load_clustering(self) -> None:
        with self._lock:
            self.centroids = self.store.centroids(self.dim)
            self.default_nprobe = int(self.store.settings().get("default_nprobe", "1"))
            self._quantizer = faiss.IndexFlatL2(self.dim)
            self._quantizer.add(self.centroids)
            rowids, clusters, vectors = self.store.all_vectors(self.dim)
            self._indexes = [faiss.IndexIDMap(faiss.IndexFlatL2(self.dim))
                             for _ in range(len(self.centroids))]
            order = np.argsort(clusters, kind="stable")
            bounds = np.searchsorted(clusters[order], np.arange(len(self.centroids) + 1))
            for c, index in enumerate(self._indexes):
                take = order[bounds[c] : bounds[c + 1]]
                if len(take):
                    index.add_with_ids(vectors[take], rowids[take])
        logger.info("opened %s: %d images in %d clusters", self.folder, len(rowids),
                    len(self.centroids))

    @property
    def nlist(self) -> int:
        return len(self._indexes)

    def __len__(self) -> int:
        return sum(index.ntotal for index in self._indexes)

    def cluster_sizes(self) -> list[int]:
        return [index.ntotal for index in self._indexes]

    def search(self, queries: np.ndarray, k: int, nprobe: int | None = None) -> Hits:
        """The k nearest stored vectors of each query, scanning its nprobe nearest clusters."""
        queries = np.ascontiguousarray(queries, np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise InvalidArgument(
                f"query vectors must have {self.dim} values, got shape {queries.shape[1:]}"
            )
        if k < 1:
            raise InvalidArgument(f"k must be at least 1, got {k}")
        nprobe = min(nprobe or self.default_nprobe, self.nlist)
        n = len(queries)
        with self._lock:
            _, probe = self._quantizer.search(queries, nprobe)
            distances = np.full((n, nprobe * k), np.inf, np.float32)
            rowids = np.full((n, nprobe * k), -1, np.int64)
            # Group the batch by cluster so each cluster is scanned once for all its queries.
            for c in np.unique(probe):
                index = self._indexes[c]
                if index.ntotal == 0:
                    continue
                qi, slot = np.nonzero(probe == c)
                d, i = index.search(queries[qi], k)
                cols = slot[:, None] * k + np.arange(k)
                distances[qi[:, None], cols] = d
                rowids[qi[:, None], cols] = i
        rowids[rowids < 0] = -1
        distances[rowids < 0] = np.inf
        best = np.argsort(distances, axis=1, kind="stable")[:, :k]
        return Hits(np.take_along_axis(distances, best, 1), np.take_along_axis(rowids, best, 1),
                    probe[:, 0].copy())

    def lookup(self, id: str) -> tuple[Row, np.ndarray]:
        """A stored image's metadata and vector; NotFound if the id is unknown."""
        rows = self.store.find([id])
        if not rows:
            raise NotFound(f"no image with id {id!r} in the collection")
        return rows[0], self.store.vector(rows[0].rowid, self.dim)

    def describe(self, rowids: np.ndarray) -> dict[int, Row]:
        return self.store.describe(rowids.ravel().tolist())

    def add(self, vectors: np.ndarray, paths: list[str], ids: list[str | None]) -> list[Row]:
        """Stores vectors durably (one transaction), then makes them searchable."""
        vectors = np.ascontiguousarray(vectors, np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise InvalidArgument(f"vectors must have {self.dim} values, got {vectors.shape}")
        with self._lock:
            clusters = assign(vectors, self.centroids)
            rows = self.store.insert(ids, paths, clusters, vectors)
            for row, vector in zip(rows, vectors):
                self._indexes[row.cluster].add_with_ids(vector[None], np.array([row.rowid]))
        return rows

    def delete(self, ids: list[str]) -> tuple[list[Row], list[str]]:
        """Deletes ids durably and from search; returns (deleted rows, missing ids)."""
        with self._lock:
            rows = self.store.delete(ids)
            for row in rows:
                self._indexes[row.cluster].remove_ids(np.array([row.rowid], np.int64))
        found = {r.id for r in rows}
        return rows, [i for i in ids if i not in found]

    def close(self) -> None:
        self.store.close()
