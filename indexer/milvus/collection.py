"""A collection whose images live in Milvus: the folder keeps the model, centroids and address.

The second implementation of the collection interface (indexer/interface.py), beside the
Faiss-plus-SQLite one. The folder holds what every server needs to route and embed (the
model, our KMeans centroids, the default nprobe) and names the Milvus collection; the images
themselves (id, vector, path, cluster) live in Milvus, which keeps them durable and shares
them among any number of stateless servers. See indexer/milvus/store.py for the Milvus side.

Differences from the local store, by design:
- ids given to images added without one are random (g + 32 hex digits): several servers
  write one collection, so there is no shared sequence to number them from;
- row numbers (Row.rowid, Hits.rowids) are per answer, only to pair hits with their rows;
- the clustering in use (centroids, nlist, default nprobe) is Milvus's current generation
  (indexer/milvus/generations.py), re-read at most every REFRESH_S seconds and at once when
  a recluster drops the generation a server was using; the folder's centroids.npy and
  milvus.json are those of the build, used only for a collection built before generations.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from lookalike.common.errors import (
    CollectionError,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from lookalike.common.filters import Filter
from lookalike.common.labels import Payload
from lookalike.indexer.calibration import KEYS as DUPLICATE_KEYS
from lookalike.indexer.calibration import valid_value
from lookalike.indexer.checks import check_queries
from lookalike.indexer.clustering import route
from lookalike.indexer.interface import Description, Hits, Row, check_search
from lookalike.indexer.manifest import MODEL_DIR, Manifest, read_manifest
from lookalike.indexer.milvus.address import GenerationGone, MilvusAddress
from lookalike.indexer.milvus.folder import CENTROIDS_FILE, MILVUS_FILE, milvus_token
from lookalike.indexer.milvus.generations import (
    Generation,
    current_name,
    fenced_until,
    read_generation,
)
from lookalike.indexer.milvus.label_counts import LabelCounts
from lookalike.indexer.milvus.labelling import names_in
from lookalike.indexer.milvus.payloads import FIELD, from_json
from lookalike.indexer.milvus.relabel import MilvusRelabel
from lookalike.indexer.milvus.sizes import ClusterSizes
from lookalike.indexer.milvus.store import MilvusVectors
from lookalike.indexer.milvus.writes import MilvusWrites
from lookalike.indexer.recluster import ReclusterConfig, ReclusterReport

logger = logging.getLogger(__name__)

REFRESH_S = 2.0  # a server re-reads which generation is current at most this often
WAIT_POLL_S = 0.05  # how often a write waiting out a recluster's fence looks again
T = TypeVar("T")


class MilvusCollection(MilvusWrites, MilvusRelabel):
    """Search, add and delete over a collection whose images live in Milvus.

    Stateless beyond the folder's fixed files: every read goes to Milvus, so an add or delete
    acknowledged by any server is seen by every server's next search (Strong consistency).
    A recluster running meanwhile is followed: see _settle. Thread-safe.
    """

    def __init__(self, folder: Path, manifest: Manifest, token: str | None = None,
                 read_only: bool = False) -> None:
        self.folder, self.manifest, self.read_only = folder, manifest, read_only
        self.dim = manifest.embedding_dim
        try:
            settings = json.loads((folder / MILVUS_FILE).read_text())
            self.address = MilvusAddress.parse(settings["address"])
            self.built_nprobe = int(settings["default_nprobe"])
            # The build's duplicate calibration (indexer/calibration.py), checked like the
            # local store's settings; the manifest's checksum covers the file.
            self.duplicate_settings = {k: str(settings[k]) for k in DUPLICATE_KEYS
                                       if k in settings}
            if not all(map(valid_value, self.duplicate_settings.values())):
                raise ValueError(f"a duplicate threshold is invalid: {self.duplicate_settings}")
            self.built_centroids = np.load(folder / CENTROIDS_FILE, allow_pickle=False)
        except (OSError, ValueError, KeyError, InvalidArgument) as exc:
            raise CollectionError(f"{folder / MILVUS_FILE} is unreadable: {exc}") from None
        if self.built_centroids.ndim != 2 or self.built_centroids.shape[1] != self.dim:
            raise CollectionError(f"{folder / CENTROIDS_FILE} does not hold {self.dim}-d "
                                  "centroids")
        self.labels = LabelCounts(self._scan_labels)
        self._matches: dict[tuple[str, str], tuple[float, int]] = {}  # see _widened
        self._props: dict[str, Any] = {}  # the current generation's properties (names &c.)
        self._lock = threading.Lock()
        self._edits = threading.Lock()  # label writes and deletes, one at a time here
        self.vectors = MilvusVectors(self.address, self.dim, milvus_token(token))
        self.sizes = ClusterSizes(self.vectors, self.generation)
        try:
            self._generation = self._read_generation()
            self.vectors.at(self._generation.name).load()
            found = current_name(self.vectors)
            self._props = dict(found[1].get("properties", {})) if found else {}
        except BaseException:
            self.vectors.close()
            raise
        self._checked = time.monotonic()
        logger.info("opened %s: images in %s (%s), %d clusters", folder, self.address,
                    self._generation.name, self.nlist)

    @classmethod
    def open(cls, folder: str | Path, read_only: bool = False,
             token: str | None = None) -> MilvusCollection:
        folder = Path(folder)
        return cls(folder, read_manifest(folder), token, read_only)

    # -- the current generation ----------------------------------------------------------
    def _read_generation(self) -> Generation:
        return read_generation(self.vectors, self.built_centroids, self.built_nprobe)

    def generation(self, force: bool = False) -> Generation:
        """The current clustering, re-read from Milvus if older than REFRESH_S (or force)."""
        with self._lock:
            if force or time.monotonic() - self._checked > REFRESH_S:
                found = current_name(self.vectors)
                if found is None or found[0] != self._generation.name:
                    self._generation = self._read_generation()
                    logger.info("%s: now on %s", self.folder, self._generation.name)
                    found = current_name(self.vectors)
                if found is not None:
                    self._props = dict(found[1].get("properties", {}))
                self._checked = time.monotonic()
            return self._generation

    def _properties(self, force: bool = False) -> dict[str, Any]:
        """The current generation's properties (cluster names, the page key), at most
        REFRESH_S old unless force."""
        self.generation(force)
        return self._props

    def _on_current(self, work: Callable[[Generation], T]) -> T:
        """work on the current generation; once more on the next if a recluster dropped it."""
        try:
            return work(self.generation())
        except GenerationGone:
            return work(self.generation(force=True))

    def _settle(self, wrote: Generation, redo: Callable[[Generation], None]) -> None:
        """After a write to wrote: makes sure it reaches the generation that stays current.

        A recluster fences the current generation while it copies the last writes into the
        new one, then switches. A write that sees no fence landed before the copy, which
        carries it over; one that sees the fence waits for the switch (or the fence's end)
        and is redone on the new generation, idempotently.
        """
        while True:
            found = current_name(self.vectors)
            if found is not None and found[0] == wrote.name:
                if fenced_until(found[1]) <= time.time():
                    return
                time.sleep(WAIT_POLL_S)
                continue
            wrote = self.generation(force=True)
            logger.info("a recluster switched to %s during a write: redone there", wrote.name)
            redo(wrote)

    def _writable(self) -> None:
        if self.read_only:
            raise Unavailable(f"{self.folder} was opened read-only; it cannot be changed")

    @property
    def model_dir(self) -> Path:
        return self.folder / MODEL_DIR

    @property
    def centroids(self) -> np.ndarray:
        return self.generation().centroids

    @property
    def default_nprobe(self) -> int:
        return self.generation().default_nprobe

    @property
    def nlist(self) -> int:
        return self.generation().nlist

    # -- reads -------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._on_current(lambda g: self.vectors.at(g.name).count())

    def cluster_sizes(self) -> list[int]:
        """Images per cluster, read from memory: counted in Milvus on the first call only,
        then kept up by this server's writes and a background recount that brings in other
        servers' within seconds (indexer/milvus/sizes.py)."""
        return self._on_current(self.sizes.read)

    def describe(self) -> Description:
        return Description(self.manifest.model_fingerprint, self.dim,
                           str(self.manifest.format_version), self.default_nprobe,
                           str(self.address))

    def rows(self) -> list[Row]:
        """Every stored row (no vectors); row numbers are positions in this answer."""
        found = self._on_current(lambda g: [
            r for page in self.vectors.at(g.name).iter_rows(vectors=False) for r in page])
        return [Row(n, r["id"], r["path"], int(r["cluster"])) for n, r in enumerate(found)]

    def all_vectors(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row numbers, clusters, vectors) of every stored image, for reports."""
        found = self._on_current(lambda g: [
            r for page in self.vectors.at(g.name).iter_rows() for r in page])
        vectors = np.asarray([r["vector"] for r in found], np.float32).reshape(-1, self.dim)
        return (np.arange(len(found), dtype=np.int64),
                np.asarray([r["cluster"] for r in found], np.int64), vectors)

    def search(self, queries: np.ndarray, k: int, nprobe: int | None = None,
               filter: Filter | None = None) -> Hits:
        """The k nearest stored images of each query within its nprobe nearest clusters;
        with a filter, the k nearest that match, nprobe widened by the filter's share of
        the images (labelling._widened), and a query whose probed clusters hold fewer than
        k matches searched again over every cluster, so k answer whenever k match."""
        queries = check_queries(queries, self.dim)
        check_search(k, nprobe)

        def scan(g: Generation) -> tuple[np.ndarray, np.ndarray, list]:
            view, where = self.vectors.at(g.name), self._where(g, filter)
            probe = min(nprobe or g.default_nprobe, g.nlist)
            probes = route(queries, g.quantizer, self._widened(g, where, probe) if where
                           else probe)
            distances, found = view.search(queries, probes, k, where)
            short = [i for i, hits in enumerate(found) if len(hits) < k]
            if where and short and probes.shape[1] < g.nlist:
                wide, more = view.search(queries[short], None, k, where)
                for j, i in enumerate(short):
                    distances[i], found[i] = wide[j], more[j]
            return probes, distances, found

        probes, distances, found = self._on_current(scan)
        rowids = np.full((len(queries), k), -1, np.int64)
        rows: dict[int, Row] = {}
        payloads: dict[int, Payload] = {}
        for i, hits in enumerate(found):
            for j, hit in enumerate(hits):
                rowid = i * k + j
                rowids[i, j] = rowid
                rows[rowid] = Row(rowid, hit["id"], hit["path"], int(hit["cluster"]))
                payload = from_json(hit.get(FIELD))
                if not payload.empty:
                    payloads[rowid] = payload
        return Hits(distances, rowids, probes[:, 0].copy(), rows, payloads,
                    names_in(self._props))

    def lookup(self, id: str) -> tuple[Row, np.ndarray]:
        found = self._on_current(lambda g: self.vectors.at(g.name).find([id], vectors=True))
        if not found:
            raise NotFound(f"no image with id {id!r} in the collection")
        row = found[0]
        return (Row(-1, row["id"], row["path"], int(row["cluster"])),
                np.asarray(row["vector"], np.float32))

    # -- writes ------------------------------------------------------------------------
    def recluster(self, config: ReclusterConfig | None = None,
                  progress: bool = False) -> ReclusterReport:
        """See CollectionLike.recluster: a new generation behind the alias (recluster.py)."""
        from lookalike.indexer.milvus.recluster import recluster_milvus

        return recluster_milvus(self, config, progress=progress)

    def lock_exclusive(self) -> None:
        """Refuses a read-only open; reclusters of one Milvus collection exclude each other
        in Milvus itself (indexer/milvus/recluster.py)."""
        self._writable()

    def __enter__(self) -> MilvusCollection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sizes.close()
        self.vectors.close()
