"""Reclustering a Milvus-mode collection: a new generation written beside the old, then switched.

1. Claim the collection (a lease in Milvus, renewed while the recluster runs) and clear what
   a crashed recluster left: a fence, unswitched generations, an alias not yet created.
2. Read every image (id, path, vector) of the current generation; fit KMeans.
3. Create generation N+1 holding the new centroids, and write every image into it with its
   new cluster. Servers go on searching and writing generation N meanwhile.
4. Fence generation N (writers wait, searches go on), copy what changed since step 2 (ids
   added or deleted, labels or attributes changed), write the cluster names carried by
   recluster.carry_names and the page-token key onto N+1, then seal N+1 and point the alias
   at it; drop N.

Labels and attributes travel with their images. N+1 always has the payload field, so the
first recluster of a collection created before labels is also its migration to them.

No step flushes: an insert Milvus acknowledged is durable in its log (as for an add), and a
flush costs about 2.5 s here while Milvus seals segments by itself.

A crash anywhere leaves generation N current and whole (or, after step 4's switch, N+1);
the next recluster clears the rest. See indexer/milvus/generations.py for the layout.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from lookalike.common.errors import CollectionError, CollectionLocked, InvalidArgument, Unavailable
from lookalike.indexer.clustering import assign, choose_k, choose_nprobe, fit_kmeans, imbalance
from lookalike.indexer.map_file import refresh_map
from lookalike.indexer.milvus.address import milvus_errors
from lookalike.indexer.milvus.collection import REFRESH_S, MilvusCollection
from lookalike.indexer.milvus.generations import (
    FENCE,
    Generation,
    create_generation,
    current_name,
    describe,
    fence,
    generations,
    set_property,
    switch,
)
from lookalike.indexer.milvus.labelling import NAME, PAGES, names_in
from lookalike.indexer.milvus.payloads import FIELD
from lookalike.indexer.milvus.rewrite import recover
from lookalike.indexer.milvus.store import MilvusVectors
from lookalike.indexer.recluster import NameMove, ReclusterConfig, ReclusterReport, carry_names

logger = logging.getLogger(__name__)

LEASE = "lookalike.recluster"  # "HOST PID UNTIL": who reclusters, and until when at least
LEASE_S = 30.0  # a crashed recluster's claim lapses after this (at once on its own host)
FENCE_MIN_S = 30.0  # the least time writers may be asked to wait for the last copy
SWITCH_MARGIN_S = 5.0  # never switch with less fence left than this
DROP_GRACE_S = REFRESH_S + 2.0  # servers move off the old generation within REFRESH_S


def recluster_milvus(collection: MilvusCollection, config: ReclusterConfig | None = None,
                     progress: bool = False, grace_s: float = DROP_GRACE_S) -> ReclusterReport:
    """Fits new centroids to every stored vector and switches the collection to them.

    grace_s: how long the old generation outlives the switch, for servers to move off it
    (0 where no server runs, as in tests).

    Raises:
        Unavailable: opened read-only, or Milvus is unreachable or failed.
        CollectionLocked: another recluster of the collection is running.
        InvalidArgument: the collection is empty.
    """
    config = config or ReclusterConfig()
    clock = time.perf_counter()
    collection.lock_exclusive()
    store = collection.vectors
    with _claimed(store):
        old = collection.generation(force=True)
        recover(store.at(old.name))  # a rewrite a crash interrupted: its rows, first
        started = time.perf_counter()
        ids, paths, old_clusters, vectors, payloads = _read_all(store.at(old.name), progress)
        # Sizes from the rows read, not one Milvus count per cluster (40 ms each here).
        before = np.bincount(old_clusters, minlength=old.nlist).tolist()
        read_s = time.perf_counter() - started
        logger.info("read %d images from %s in %.1f s", len(ids), old.name, read_s)
        if len(ids) == 0:
            raise InvalidArgument(f"{collection.folder} is empty: nothing to recluster")
        k = config.clusters if config.clusters is not None else old.nlist
        if k == 0:
            k = choose_k(vectors, config.seed).k
        centroids, _ = fit_kmeans(vectors, min(k, len(vectors)), config.seed)
        clusters = assign(vectors, centroids)
        nprobe = choose_nprobe(vectors, centroids, config.target_recall, seed=config.seed)
        logger.info("fitted %d clusters in %.1f s", len(centroids),
                    time.perf_counter() - started - read_s)
        started = time.perf_counter()
        new = create_generation(store, old.number + 1, centroids, nprobe)
        logger.info("created %s in %.1f s", new.name, time.perf_counter() - started)
        try:
            started = time.perf_counter()
            _write_all(new, ids, paths, clusters, vectors, payloads, progress)
            logger.info("wrote %d images in %.1f s", len(ids), time.perf_counter() - started)
            del vectors
            after, moved, dropped = _catch_up_and_switch(
                store, old, new, ids, payloads, (old_clusters, clusters), centroids,
                max(FENCE_MIN_S, 3 * read_s), grace_s)
        except BaseException:
            _abandon(store, old, new)
            raise
        now = collection.generation(force=True)
    if config.map:
        refresh_map(collection, collection.folder)  # anew, with every image stored now
    report = ReclusterReport(len(ids), len(before), now.nlist, imbalance(before),
                             imbalance(after), now.default_nprobe,
                             round(time.perf_counter() - clock, 2), moved, dropped)
    logger.info("reclustered %s into %s: %s", collection.folder, now.name, report)
    return report


def _read_all(old: MilvusVectors, progress: bool
              ) -> tuple[list[str], list[str], np.ndarray, np.ndarray, list[dict]]:
    """Every image's id, path, cluster, vector and stored payload ({} for none)."""
    from tqdm import tqdm

    ids: list[str] = []
    paths: list[str] = []
    clusters: list[int] = []
    chunks: list[np.ndarray] = []
    payloads: list[dict] = []
    with tqdm(total=old.count(), unit="img", desc="reading", disable=not progress) as bar:
        for page in old.iter_rows(vectors=True):
            ids += [r["id"] for r in page]
            paths += [r["path"] for r in page]
            clusters += [r["cluster"] for r in page]
            payloads += [r.get(FIELD) or {} for r in page]
            chunks.append(np.asarray([r["vector"] for r in page], np.float32))
            bar.update(len(page))
    vectors = np.concatenate(chunks) if chunks else np.zeros((0, old.dim), np.float32)
    return ids, paths, np.asarray(clusters, np.int64), vectors, payloads


def _write_all(new: MilvusVectors, ids: list[str], paths: list[str], clusters: np.ndarray,
               vectors: np.ndarray, payloads: list[dict], progress: bool,
               batch: int = 10_000) -> None:
    from tqdm import tqdm

    with tqdm(total=len(ids), unit="img", desc="writing", disable=not progress) as bar:
        for start in range(0, len(ids), batch):
            end = start + batch
            new.insert(ids[start:end], paths[start:end], clusters[start:end],
                       vectors[start:end], payloads[start:end])
            bar.update(len(ids[start:end]))


def _catch_up_and_switch(
    store: MilvusVectors, old: Generation, new: MilvusVectors, ids: list[str],
    payloads: list[dict], moves: tuple[np.ndarray, np.ndarray], centroids: np.ndarray,
    fence_s: float, grace_s: float,
) -> tuple[list[int], tuple[NameMove, ...], tuple[NameMove, ...]]:
    """Fences the old generation, copies what changed since it was read (ids added or
    deleted, with their new clusters; payloads changed), carries the cluster names,
    switches.

    payloads: each id's as read. moves: (old, new) cluster of each id. Returns the images
    in each new cluster at the switch (also left on the new generation for servers to
    start from), and the names moved and dropped.
    """
    copied = dict(zip(ids, payloads, strict=True))
    clusters = moves[1]
    until = fence(store, old.name, fence_s)
    fenced = time.perf_counter()
    source = store.at(old.name)
    now = {r["id"]: r.get(FIELD) or {} for page in source.iter_rows(vectors=False)
           for r in page}
    added = sorted(now.keys() - copied.keys())
    deleted = sorted(copied.keys() - now.keys())
    changed = sorted(i for i in now.keys() & copied.keys() if now[i] != copied[i])
    placed = np.zeros(0, np.int64)
    if added or changed:
        rows = source.find(added + changed, vectors=True)
        vectors = np.asarray([r["vector"] for r in rows], np.float32).reshape(-1, store.dim)
        where = assign(vectors, centroids)
        new.upsert([r["id"] for r in rows], [r["path"] for r in rows], where, vectors,
                   [r.get(FIELD) or {} for r in rows])
        fresh = set(added)
        placed = where[[r["id"] in fresh for r in rows]]
    if deleted:
        new.delete(deleted)
    properties = (describe(store, old.name) or {}).get("properties", {})
    names, moved, dropped = carry_names(names_in(properties), *moves)
    for cluster, name in names.items():
        set_property(store, new.name, f"{NAME}{cluster}", name)
    if properties.get(PAGES):
        set_property(store, new.name, PAGES, properties[PAGES])
    logger.info("caught up in %.2f s (fenced): %d added, %d deleted and %d relabelled while "
                "reclustering", time.perf_counter() - fenced, len(added), len(deleted),
                len(changed))
    if time.time() > until - SWITCH_MARGIN_S:
        raise Unavailable(f"copying the last writes took longer than the {fence_s:.0f} s "
                          "writers were asked to wait; nothing was switched, run it again")
    index = {id_: n for n, id_ in enumerate(ids)}
    nlist = len(centroids)
    sizes = (np.bincount(clusters, minlength=nlist) + np.bincount(placed, minlength=nlist)
             - np.bincount(clusters[[index[i] for i in deleted]], minlength=nlist)).tolist()
    switch(store, old, new.name, grace_s, sizes=sizes)
    return sizes, moved, dropped


def _abandon(store: MilvusVectors, old: Generation, new: MilvusVectors) -> None:
    """After a failure before the switch: lifts the fence and drops the new generation."""
    try:
        found = current_name(store)
        if found is not None and found[0] == new.name:
            return  # switched: the failure came after (dropping the old one)
        if describe(store, old.name) is not None:
            set_property(store, old.name, FENCE, "0")
        new.drop()
    except Unavailable:
        logger.warning("could not clean up after a failed recluster; the next one will")


@contextmanager
def _claimed(store: MilvusVectors) -> Iterator[None]:
    """Holds the collection's recluster lease, renewed in the background, and first clears
    what a crashed recluster left behind."""
    found = current_name(store)
    if found is None:
        raise CollectionError(f"Milvus at {store.address.uri} has no collection "
                              f"{store.address.name!r}")
    name, about = found
    _check_lease(about.get("properties", {}).get(LEASE, ""))
    me = f"{socket.gethostname()} {os.getpid()}"
    set_property(store, name, LEASE, f"{me} {time.time() + LEASE_S:.3f}")
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(LEASE_S / 3):
            try:
                target = current_name(store)
                if target is not None:
                    set_property(store, target[0], LEASE, f"{me} {time.time() + LEASE_S:.3f}")
            except Unavailable as exc:  # the recluster itself will meet it too
                logger.warning("could not renew the recluster claim: %s", exc)

    _clear_leftovers(store, name)
    renewer = threading.Thread(target=renew, name="lookalike-recluster-lease", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()
        try:
            target = current_name(store)
            if target is not None:
                set_property(store, target[0], LEASE, "")
        except Unavailable:
            pass  # the claim lapses by itself


def _check_lease(lease: str) -> None:
    try:
        host, pid, until = lease.split(" ")
        expires = float(until)
    except ValueError:
        return  # none, or released
    if time.time() > expires:
        return
    if host == socket.gethostname() and not _alive(int(pid)):
        return
    raise CollectionLocked(f"another recluster of this collection is running ({host}, "
                           f"process {pid}); its claim lapses {expires - time.time():.0f} s "
                           "after it stops")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clear_leftovers(store: MilvusVectors, current: str) -> None:
    """Drops generations other than the current one, lifts a stale fence, and creates the
    alias if a crash came between dropping a legacy collection and creating it."""
    for name in generations(store).values():
        if name != current:
            logger.info("dropping %s, left by an earlier recluster", name)
            store.at(name).drop()
    set_property(store, current, FENCE, "0")
    if describe(store, store.address.name) is None:
        with milvus_errors(store.address):
            store.client.create_alias(current, store.address.name)
