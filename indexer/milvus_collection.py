"""A collection whose images live in Milvus: the folder keeps the model, centroids and address.

The second implementation of the collection interface (indexer/interface.py), beside the
Faiss-plus-SQLite one. The folder holds what every server needs to route and embed (the
model, our KMeans centroids, the default nprobe) and names the Milvus collection; the images
themselves (id, vector, path, cluster) live in Milvus, which keeps them durable and shares
them among any number of stateless servers. See indexer/milvus_store.py for the Milvus side.

Differences from the local store, by design:
- ids given to images added without one are random (g + 32 hex digits): several servers
  write one collection, so there is no shared sequence to number them from;
- row numbers (Row.rowid, Hits.rowids) are per answer, only to pair hits with their rows;
- reclustering is not supported yet: it is refused with a message.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lookalike.common.errors import (
    AlreadyExists,
    CollectionError,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from lookalike.indexer.checks import check_add, check_queries, check_rows
from lookalike.indexer.clustering import make_quantizer, route
from lookalike.indexer.create import ModelSource, refuse_existing, write_folder
from lookalike.indexer.interface import Description, Hits, Row, check_search
from lookalike.indexer.manifest import MODEL_DIR, Manifest, read_manifest
from lookalike.indexer.milvus_store import MAX_PATH, MilvusAddress, MilvusVectors, generated_ids

logger = logging.getLogger(__name__)

MILVUS_FILE = "milvus.json"  # the Milvus address, nlist and default nprobe
CENTROIDS_FILE = "centroids.npy"
TOKEN_ENV = "LOOKALIKE_MILVUS_TOKEN"
SIZES_TTL = 2.0  # seconds Info's per-cluster counts (one Milvus count per cluster) are kept


def is_milvus_folder(manifest: Manifest) -> bool:
    return MILVUS_FILE in manifest.checksums


def milvus_token(token: str | None = None) -> str:
    return token if token is not None else os.environ.get(TOKEN_ENV, "")


def create_milvus_collection(
    folder: Path, model: ModelSource, manifest: Manifest, vectors: np.ndarray,
    paths: list[str], ids: Sequence[str | None], centroids: np.ndarray, default_nprobe: int,
    address: MilvusAddress, token: str | None = None,
) -> None:
    """Creates the Milvus collection, stores every image in it, then writes the folder.

    The folder appears whole or not at all (indexer/create.py); if writing it fails, the
    Milvus collection is dropped again, so a retry starts clean.

    Raises:
        AlreadyExists: Milvus already has a collection of that name.
        Unavailable: Milvus is unreachable or failed.
    """
    refuse_existing(folder)
    store = MilvusVectors(address, manifest.embedding_dim, milvus_token(token))
    try:
        store.create(len(centroids))
        try:
            fresh = iter(generated_ids(sum(i is None for i in ids)))
            final = [i if i is not None else next(fresh) for i in ids]
            clusters = route(vectors, make_quantizer(centroids))[:, 0]
            store.insert(final, check_rows(paths, list(ids)), clusters, vectors)
            store.flush()
            write_folder(folder, model, manifest,
                         lambda work: _write_files(work, address, centroids, default_nprobe))
        except BaseException:
            store.drop()
            raise
    finally:
        store.close()


def _write_files(work: Path, address: MilvusAddress, centroids: np.ndarray,
                 default_nprobe: int) -> list[str]:
    """Writes the folder's Milvus files; returns their names for the manifest's checksums."""
    np.save(work / CENTROIDS_FILE, np.ascontiguousarray(centroids, np.float32))
    settings = {"address": str(address), "nlist": len(centroids),
                "default_nprobe": int(default_nprobe)}
    (work / MILVUS_FILE).write_text(json.dumps(settings, indent=2))
    for name in (CENTROIDS_FILE, MILVUS_FILE):
        with open(work / name, "rb") as f:
            os.fsync(f.fileno())
    return [CENTROIDS_FILE, MILVUS_FILE]


class MilvusCollection:
    """Search, add and delete over a collection whose images live in Milvus.

    Stateless beyond the folder's fixed files: every read goes to Milvus, so an add or delete
    acknowledged by any server is seen by every server's next search (Strong consistency).
    Thread-safe.
    """

    def __init__(self, folder: Path, manifest: Manifest, token: str | None = None,
                 read_only: bool = False) -> None:
        self.folder, self.manifest, self.read_only = folder, manifest, read_only
        self.dim = manifest.embedding_dim
        try:
            settings = json.loads((folder / MILVUS_FILE).read_text())
            self.address = MilvusAddress.parse(settings["address"])
            self.default_nprobe = int(settings["default_nprobe"])
            self.centroids = np.load(folder / CENTROIDS_FILE, allow_pickle=False)
        except (OSError, ValueError, KeyError, InvalidArgument) as exc:
            raise CollectionError(f"{folder / MILVUS_FILE} is unreadable: {exc}") from None
        if self.centroids.ndim != 2 or self.centroids.shape[1] != self.dim:
            raise CollectionError(f"{folder / CENTROIDS_FILE} does not hold {self.dim}-d "
                                  "centroids")
        self._quantizer = make_quantizer(self.centroids)
        self._sizes: tuple[float, list[int]] = (-np.inf, [])
        self._sizes_lock = threading.Lock()
        self.vectors = MilvusVectors(self.address, self.dim, milvus_token(token))
        self.vectors.load()
        logger.info("opened %s: images in %s, %d clusters", folder, self.address, self.nlist)

    @classmethod
    def open(cls, folder: str | Path, read_only: bool = False,
             token: str | None = None) -> MilvusCollection:
        folder = Path(folder)
        return cls(folder, read_manifest(folder), token, read_only)

    def _writable(self) -> None:
        if self.read_only:
            raise Unavailable(f"{self.folder} was opened read-only; it cannot be changed")

    @property
    def model_dir(self) -> Path:
        return self.folder / MODEL_DIR

    @property
    def nlist(self) -> int:
        return len(self.centroids)

    def __len__(self) -> int:
        return self.vectors.count()

    def cluster_sizes(self) -> list[int]:
        """Images per cluster, at most SIZES_TTL seconds old (one Milvus count per cluster)."""
        with self._sizes_lock:
            when, sizes = self._sizes
            if time.monotonic() - when > SIZES_TTL:
                sizes = self.vectors.cluster_counts(self.nlist)
                self._sizes = (time.monotonic(), sizes)
            return list(sizes)

    def describe(self) -> Description:
        return Description(self.manifest.model_fingerprint, self.dim,
                           str(self.manifest.format_version), self.default_nprobe,
                           str(self.address))

    def rows(self) -> list[Row]:
        """Every stored row (no vectors); row numbers are positions in this answer."""
        found = [r for page in self.vectors.iter_rows(vectors=False) for r in page]
        return [Row(n, r["id"], r["path"], int(r["cluster"])) for n, r in enumerate(found)]

    def all_vectors(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row numbers, clusters, vectors) of every stored image, for reports."""
        found = [r for page in self.vectors.iter_rows() for r in page]
        vectors = np.asarray([r["vector"] for r in found], np.float32).reshape(-1, self.dim)
        return (np.arange(len(found), dtype=np.int64),
                np.asarray([r["cluster"] for r in found], np.int64), vectors)

    def search(self, queries: np.ndarray, k: int, nprobe: int | None = None) -> Hits:
        """The k nearest stored images of each query within its nprobe nearest clusters."""
        queries = check_queries(queries, self.dim)
        check_search(k, nprobe)
        probes = route(queries, self._quantizer, min(nprobe or self.default_nprobe, self.nlist))
        distances, found = self.vectors.search(queries, probes, k)
        rowids = np.full((len(queries), k), -1, np.int64)
        rows: dict[int, Row] = {}
        for i, hits in enumerate(found):
            for j, hit in enumerate(hits):
                rowid = i * k + j
                rowids[i, j] = rowid
                rows[rowid] = Row(rowid, hit["id"], hit["path"], int(hit["cluster"]))
        return Hits(distances, rowids, probes[:, 0].copy(), rows)

    def lookup(self, id: str) -> tuple[Row, np.ndarray]:
        found = self.vectors.find([id], vectors=True)
        if not found:
            raise NotFound(f"no image with id {id!r} in the collection")
        row = found[0]
        return (Row(-1, row["id"], row["path"], int(row["cluster"])),
                np.asarray(row["vector"], np.float32))

    def add(self, vectors: np.ndarray, paths: list[str], ids: Sequence[str | None]) -> list[Row]:
        """Stores the images in Milvus; on return they are durable and searchable everywhere.

        A given id already stored is refused (AlreadyExists) and nothing is stored. Two
        servers adding the same new id at the same moment can both succeed: Milvus does not
        enforce primary keys (docs/scale-out.md).
        """
        self._writable()
        vectors, paths = check_add(vectors, paths, list(ids), self.dim)
        long = next((p for p in paths if len(p.encode()) > MAX_PATH), None)
        if long is not None:
            raise InvalidArgument(f"a path of {len(long.encode())} bytes is over Milvus's "
                                  f"{MAX_PATH}-byte limit")
        given = [i for i in ids if i is not None]
        if len(set(given)) < len(given):
            raise AlreadyExists("an id is given twice in one add")
        taken = self.vectors.find(given) if given else []
        if taken:
            raise AlreadyExists(f"the id {taken[0]['id']!r:.80} is already in the collection")
        fresh = iter(generated_ids(len(ids) - len(given)))
        final = [i if i is not None else next(fresh) for i in ids]
        clusters = route(vectors, self._quantizer)[:, 0]
        self.vectors.insert(final, paths, clusters, vectors)
        self._sizes = (-np.inf, [])
        return [Row(-1, i, p, int(c)) for i, p, c in zip(final, paths, clusters, strict=True)]

    def delete(self, ids: Sequence[str]) -> tuple[list[Row], list[str]]:
        """Deletes the stored ones among ids; returns (deleted rows, missing ids)."""
        self._writable()
        found = self.vectors.find(list(ids))
        if found:
            self.vectors.delete([r["id"] for r in found])
            self._sizes = (-np.inf, [])
        rows = [Row(-1, r["id"], r["path"], int(r["cluster"])) for r in found]
        present = {r.id for r in rows}
        return rows, [i for i in ids if i not in present]

    def lock_exclusive(self) -> None:
        raise CollectionError(f"{self.folder} keeps its images in Milvus ({self.address}); "
                              "reclustering a Milvus collection is not supported yet")

    def __enter__(self) -> MilvusCollection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.vectors.close()
