"""A memory-mapped, cluster-ordered copy of a collection's vectors: the processes of a server
group map one file and share its pages, instead of each holding a private copy."""

from __future__ import annotations

import logging
import mmap
import os
import struct
import tempfile
import zlib
from pathlib import Path
from typing import NamedTuple

import faiss
import numpy as np

from lookalike.common.atomic import fsync_dir
from lookalike.common.errors import CollectionError
from lookalike.indexer.disk import refuse_when_full
from lookalike.indexer.local.cluster_indexes import ClusterIndexes, _groups
from lookalike.indexer.local.integrity import corrupt_named
from lookalike.indexer.local.store import MetadataStore
from lookalike.indexer.manifest import DATABASE_FILE, read_manifest

logger = logging.getLogger(__name__)

SNAPSHOT_FILE = "vectors.snapshot"
MAGIC = b"LKSNAP1\0"
# magic, dim, nlist, change-log entry it reflects, rows, crc32 of everything after the header
HEADER = struct.Struct("<8sIIqqI")
HEADER_BYTES = 64


class Snapshot(NamedTuple):
    """Read-only views of the mapped file; each keeps the mapping alive.

    Cluster c's vectors (and norms) are [offsets[c]:offsets[c+1]], its row numbers
    rows[offsets[c] + c : offsets[c+1] + c] followed by one -1, as ClusterIndexes keeps them.
    """

    seq: int
    offsets: np.ndarray
    rows: np.ndarray
    norms: np.ndarray
    vectors: np.ndarray


def _layout(dim: int, nlist: int, n: int) -> tuple[list[int], int]:
    """Byte offsets of the sections (offsets, rows, norms, vectors), each 64-byte aligned."""
    sizes = [8 * (nlist + 1), 8 * (n + nlist), 4 * n, 4 * n * dim]
    starts, at = [], HEADER_BYTES
    for size in sizes:
        starts.append(at)
        at += -(-size // 64) * 64
    return starts, at


def _views(buffer: object, dim: int, nlist: int, n: int) -> tuple[np.ndarray, ...]:
    (o, r, s, v), _ = _layout(dim, nlist, n)
    return (np.frombuffer(buffer, np.int64, nlist + 1, o),
            np.frombuffer(buffer, np.int64, n + nlist, r),
            np.frombuffer(buffer, np.float32, n, s),
            np.frombuffer(buffer, np.float32, n * dim, v).reshape(n, dim))


def write_snapshot(folder: str | Path, force: bool = False) -> Path:
    """Writes DIR/vectors.snapshot from SQLite, atomically; safe while a group writes.

    It reflects one committed state, named by its last change-log entry: shared opens map
    it and apply the later entries. A server group's parent calls this before starting its
    workers (and may again later, so that a worker that restarts maps a newer one). An
    intact snapshot of the current state is kept as it is unless force.

    Raises:
        StorageFull: no room for it; the old snapshot, if any, is kept.
        CollectionError, NotFound, CollectionMismatch: see read_manifest.
    """
    folder = Path(folder)
    dim = read_manifest(folder).embedding_dim
    store = MetadataStore(folder / DATABASE_FILE, read_only=True)
    try:
        with corrupt_named(store.path):  # as a lone server's open reports it
            return _write(folder, store, dim, force)
    finally:
        store.close()


def _write(folder: Path, store: MetadataStore, dim: int, force: bool) -> Path:
    path = folder / SNAPSHOT_FILE
    if not force and _current(folder, store, dim):
        logger.info("%s is current: kept", path)
        return path
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{SNAPSHOT_FILE}.", suffix=".tmp")
    try:
        with store.snapshot(), refuse_when_full(path):
            seq = store.last_seq()
            nlist = len(store.centroids(dim))
            counts = store.cluster_counts()
            n = sum(counts.values())
            _, total = _layout(dim, nlist, n)
            os.ftruncate(fd, total)
            os.posix_fallocate(fd, 0, total)  # ENOSPC now, not a SIGBUS while filling the map
            with mmap.mmap(fd, total) as mm:
                _fill(store, mm, dim, nlist, n, counts)
                crc = zlib.crc32(memoryview(mm)[HEADER_BYTES:])
                mm[: HEADER.size] = HEADER.pack(MAGIC, dim, nlist, seq, n, crc)
                mm.flush()
            os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
        fsync_dir(folder)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        Path(tmp).unlink(missing_ok=True)
        raise
    logger.info("wrote %s: %d vectors as of change %d", path, n, seq)
    return path


def _current(folder: Path, store: MetadataStore, dim: int) -> bool:
    """Whether the folder's snapshot is intact and reflects the last change-log entry."""
    snap = open_snapshot(folder, dim, quiet=True)
    return snap is not None and snap.seq == store.last_seq() and len(snap.offsets) == len(
        store.centroids(dim)) + 1


def _fill(store: MetadataStore, mm: mmap.mmap, dim: int, nlist: int, n: int,
          counts: dict[int, int]) -> None:
    """Fills the mapping from SQLite; on return or raise no view of the mapping is left.

    A view alive when the mapping closes makes mmap.close() raise BufferError, which then
    replaces the error on its way out (a row failing its checksum, say): the traceback
    keeps this frame, so its locals, alive. Hence the views live in this frame alone.
    """
    offsets, rows, norms, vectors = _views(mm, dim, nlist, n)
    try:
        sizes = np.array([counts.get(c, 0) for c in range(nlist)], np.int64)
        if any(not 0 <= c < nlist for c in counts):
            raise CollectionError(f"rows name clusters outside 0..{nlist - 1}")
        offsets[0], offsets[1:] = 0, np.cumsum(sizes)
        fill = offsets[:-1].copy()
        for rowids, clusters, chunk in store.iter_vectors(dim):
            for c, take in _groups(clusters):
                start, stop = fill[c], fill[c] + len(take)
                if stop > offsets[c + 1]:
                    raise CollectionError(f"{store.path}: cluster {c} changed while being read")
                vectors[start:stop] = chunk[take]
                rows[start + c : stop + c] = rowids[take]
                fill[c] = stop
        if not np.array_equal(fill, offsets[1:]):
            raise CollectionError(f"{store.path}: the rows changed while being read")
        rows[offsets[1:] + np.arange(nlist)] = -1
        if n:  # the same norms IndexFlatL2.sync_l2norms computes, so scans match it exactly
            faiss.fvec_norms_L2sqr(faiss.swig_ptr(norms), faiss.swig_ptr(vectors), dim, n)
    finally:
        del offsets, rows, norms, vectors


def open_snapshot(folder: Path, dim: int, quiet: bool = False) -> Snapshot | None:
    """The folder's snapshot mapped read-only, or None (with a warning if it is unusable,
    unless quiet): it is a cache of SQLite, so a missing or damaged one only means loading
    from SQLite."""
    path = folder / SNAPSHOT_FILE
    try:
        with open(path, "rb") as f:
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:  # ValueError: an empty file cannot be mapped
        problem = f"is unreadable ({exc})"
    else:
        problem = _check(mm, dim)
        if problem:
            mm.close()
    if problem:
        if not quiet:
            logger.warning("%s %s; loading from SQLite", path, problem)
        return None
    _, file_dim, nlist, seq, n, _ = HEADER.unpack_from(mm)
    return Snapshot(seq, *_views(mm, dim, nlist, n))


def _check(mm: mmap.mmap, dim: int) -> str:
    if len(mm) < HEADER_BYTES:
        return "is truncated"
    magic, file_dim, nlist, seq, n, crc = HEADER.unpack_from(mm)
    if magic != MAGIC:
        return "is not a lookalike vector snapshot"
    if file_dim != dim:
        return f"holds {file_dim}-value vectors, not {dim}"
    if n < 0 or _layout(dim, nlist, n)[1] != len(mm):
        return "is truncated or padded"
    if zlib.crc32(memoryview(mm)[HEADER_BYTES:]) != crc:
        return "fails its checksum"
    return ""


def load_mapped(folder: Path, store: MetadataStore,
                dim: int) -> tuple[ClusterIndexes, int, int] | None:
    """(indexes, default nprobe, last change-log entry) from the mapped snapshot plus the
    log entries after it, or None when there is no usable snapshot: none, a damaged one, or
    one older than a reclustering or than the log reaches back."""
    snap = open_snapshot(folder, dim)
    if snap is None:
        return None
    with store.snapshot():
        pending = store.changes_since(snap.seq)
        if pending.reload:
            logger.info("%s predates a reclustering or the change log; loading from SQLite",
                        folder / SNAPSHOT_FILE)
            return None
        centroids = store.centroids(dim)
        nprobe = int(store.settings()["default_nprobe"])
        rowids, clusters, vectors = store.vectors_of(pending.added, dim)
        counts = store.cluster_counts()
    try:
        indexes = ClusterIndexes.mapped(centroids, *snap[1:])
    except CollectionError as exc:
        logger.warning("%s does not fit: %s; loading from SQLite", folder / SNAPSHOT_FILE, exc)
        return None
    if len(pending.deleted):
        indexes.remove(pending.deleted_clusters, pending.deleted)
    if len(rowids):
        indexes.add(clusters, vectors, rowids)
    if indexes.sizes() != [counts.get(c, 0) for c in range(indexes.nlist)]:
        logger.warning("%s and its change log disagree with SQLite; loading from SQLite",
                       folder / SNAPSHOT_FILE)
        return None
    return indexes, nprobe, pending.last
