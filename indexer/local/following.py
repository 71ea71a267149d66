"""Keeping a local collection's in-memory indexes current: loading them from SQLite, and
following what the other processes of a server group commit (the change log).

A mixin of Collection (collection.py), which owns the locks, the store and the indexes.
Shared opens (a server group's workers, while its parent holds the FolderLock) all write
the folder: each write holds the group's write lock, appends to the change log in its own
transaction and publishes its last entry's number before it returns; every call first
compares that number with its own (follow()), applying the log if behind. A write
acknowledged by any process is therefore seen by the next call on every process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.common.labels import Payload
from lookalike.indexer.local.cluster_indexes import ClusterIndexes
from lookalike.indexer.local.filtered import forget_selections
from lookalike.indexer.local.payload_index import PayloadIndex
from lookalike.indexer.local.snapshot import load_mapped
from lookalike.indexer.local.store import MetadataStore
from lookalike.indexer.lock import GroupWriteLock

logger = logging.getLogger(__name__)

RECHECK_S = 1.0  # (shared) how often follow() asks SQLite whether anything changed unannounced


class Following:
    """reload, follow, writing and the application of this process's own writes."""

    folder: Path
    store: MetadataStore
    dim: int
    default_nprobe: int
    _clusters: ClusterIndexes
    _payloads: PayloadIndex
    _names: dict[int, str]
    _rw: Any
    _writer: threading.RLock
    _apply: threading.Lock
    _group: GroupWriteLock | None
    _depth: int
    _seq: int
    _version: int
    _recheck_at: float

    def reload(self) -> None:
        """Rebuilds the in-memory indexes from SQLite, the durable truth, and swaps them in."""
        with self._writer, self._apply:
            self._load()

    def _load(self) -> None:
        """reload(), holding _apply."""
        version = self.store.data_version()  # before the read: a later commit is seen
        # Shared: the group's mapped snapshot (and the log after it) when it is current.
        loaded = None if self._group is None else load_mapped(self.folder, self.store, self.dim)
        if loaded is not None:
            indexes, nprobe, seq = loaded
            # Read after the snapshot's state: entries between are applied again on the next
            # catch-up, and rereading a row's payload is idempotent.
            with self.store.snapshot():
                payloads, names = self.store.all_payloads(), self.store.cluster_names()
        else:
            with self.store.snapshot():
                seq = self.store.last_seq()
                centroids = self.store.centroids(self.dim)
                nprobe = int(self.store.settings()["default_nprobe"])
                indexes = ClusterIndexes.load(centroids, self.store.cluster_counts(),
                                              self.store.iter_vectors(self.dim))
                payloads, names = self.store.all_payloads(), self.store.cluster_names()
        with self._rw.write():
            self._clusters, self.default_nprobe = indexes, nprobe
            self._payloads, self._names = PayloadIndex(payloads), names
        self._seq, self._version = seq, version
        logger.info("opened %s: %d images in %d clusters (%d mapped)", self.folder,
                sum(indexes.sizes()), indexes.nlist, indexes.mapped_rows())

    def follow(self) -> None:
        """(shared) Applies what other processes committed since this one last looked.

        The per-call check reads the entry number the group's writers publish (a memory
        load); only when it is ahead are the change-log entries read, with the added rows'
        vectors, in one read transaction. A write committed but never published (its
        process was killed between the two, so it was never acknowledged either) is found
        by the deeper check, SQLite's PRAGMA data_version, at most RECHECK_S later.
        """
        group = self._group
        if group is None or (group.published() <= self._seq
                             and time.monotonic() < self._recheck_at):
            return
        with self._apply:  # not _writer: a search never waits for another process's write
            self._recheck_at = time.monotonic() + RECHECK_S
            version = self.store.data_version()
            # Another thread may have caught up meanwhile.
            if group.published() > self._seq or version != self._version:
                self._catch_up(version)

    def _catch_up(self, version: int) -> None:
        """Applies the log after _seq (holding _apply), or reloads when it says so."""
        with self.store.snapshot():
            pending = self.store.changes_since(self._seq)
            if not pending.reload and len(pending.added):
                rowids, clusters, vectors = self.store.vectors_of(pending.added, self.dim)
                if len(rowids) != len(pending.added):
                    logger.warning("%s: logged rows are missing; reloading", self.folder)
                    pending = pending._replace(reload=True)
            if not pending.reload:
                touched = np.union1d(pending.added, pending.relabelled)
                got = self.store.payloads(touched.tolist()) if len(touched) else {}
                payloads = {int(r): got.get(int(r), Payload()) for r in touched}
                names = self.store.cluster_names() if pending.names else self._names
        if pending.reload:
            self._load()
            return
        if not pending.empty:
            with self._rw.write():
                if len(pending.deleted):
                    self._clusters.remove(pending.deleted_clusters, pending.deleted)
                    self._payloads.remove(pending.deleted.tolist())
                if len(pending.added):
                    self._clusters.add(clusters, vectors, rowids)
                self._payloads.set(payloads)
                self._payloads.changed()
                forget_selections(self._clusters)
                self._names = names
        self._seq, self._version = pending.last, version

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Holds off other adds, deletes and reclusterings (searches go on); shared, in every
        process of the group, and with this process brought up to date first."""
        with self._writer:
            if self._group is None:
                yield
                return
            outer = self._depth == 0
            if outer:
                self._group.acquire()
            self._depth += 1
            try:
                if outer:
                    with self._apply:
                        self._catch_up(self.store.data_version())
                yield
            finally:
                self._depth -= 1
                if outer:
                    try:
                        self._group.publish(self.store.last_seq())
                    finally:
                        self._group.release()

    def _apply_own(self, written: int, change: Callable[[], None]) -> None:
        """Makes this process's own committed write (`written` log entries) searchable.

        Shared: when the write does not directly follow what this process has applied, it
        catches up from the log instead, its own entries included.
        """
        with self._apply:
            if self._group is not None:
                if self.store.last_change - written != self._seq:
                    self._catch_up(self.store.data_version())
                    return
                self._seq = self.store.last_change
            with self._rw.write():
                change()
