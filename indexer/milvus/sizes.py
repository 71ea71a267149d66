"""Images per cluster of a Milvus-mode collection, kept in memory so no request counts them.

Milvus 2.3 cannot count rows grouped by a field in one call (a `group_by_field` on a count
query is ignored; a query iterator over every row's cluster took 33 s for 100K rows here),
so a true count is one count query per cluster: about 0.2 s each at Milvus's default time
tick, which made an Info on 28 clusters take 5.9 s. Here the sizes are instead:

- counted once, in parallel, the first time they are read (a server reads them while it
  loads, before it serves);
- moved by every add and delete this server makes, as it makes them;
- on a move to the generation a recluster switched to, taken from what it left there;
- checked in a background thread every RECOUNT_S seconds with one total count, and
  recounted cluster by cluster there when the total differs (another server wrote), or
  at least every FULL_RECOUNT_S seconds (writes elsewhere that left the total unchanged).
  Recounts are spaced by RECOUNT_GAP times the last one's length, so that servers writing
  all the time elsewhere keep a recount busy a sixth of the time at most.

So a read costs no Milvus call. This server's own writes show at once; other servers'
writes within RECOUNT_S, or the recount gap, plus one recount (docs/scale-out.md).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from lookalike.common.errors import Unavailable
from lookalike.indexer.milvus.generations import Generation
from lookalike.indexer.milvus.store import MilvusVectors

logger = logging.getLogger(__name__)

RECOUNT_S = 2.0  # how often the background thread compares the total with Milvus's
RECOUNT_GAP = 5.0  # a recount starts at least this many times its last length after it
FULL_RECOUNT_S = 60.0  # the longest between two recounts, cluster by cluster
COUNT_THREADS = 8  # a recount's count queries in flight at once (its own threads: a
# recount never queues in front of a search's requests)


class _Recount:
    """One recount in progress: the deltas of the writes made while it runs, by cluster."""

    def __init__(self, name: str, nlist: int) -> None:
        self.name = name
        self.moved = np.zeros(nlist, np.int64)  # every delta since the recount began
        self.seen = np.zeros(nlist, np.int64)  # moved[c] when cluster c's count came back


class ClusterSizes:
    """The sizes of the current generation's clusters; thread-safe.

    vectors: the connection (views of it count each generation); current: the collection's
    current generation, re-read from Milvus at most every few seconds.
    """

    def __init__(self, vectors: MilvusVectors, current: Callable[[], Generation]) -> None:
        self._vectors, self._current = vectors, current
        self._lock = threading.Lock()  # guards the fields below
        self._name = ""  # the generation the sizes are of; "" before the first count
        self._sizes = np.zeros(0, np.int64)
        self._counting: _Recount | None = None
        self._recounting = threading.Lock()  # one recount at a time
        self._full_at = -np.inf  # time.monotonic() at the end of the last recount
        self._took = 0.0  # the last recount's length, in seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def read(self, generation: Generation) -> list[int]:
        """The sizes of generation's clusters: counted in Milvus only the first time (or
        after a switch to a generation that a recluster left no sizes on)."""
        with self._lock:
            if self._name == generation.name or self._seed(generation):
                return self._sizes.tolist()
        self.recount(generation, only_if_unknown=True)
        self._start()
        with self._lock:
            return self._sizes.tolist()

    def changed(self, generation: Generation, clusters: np.ndarray, sign: int) -> None:
        """After a write acknowledged on generation: sign * one image in each cluster."""
        delta = sign * np.bincount(np.asarray(clusters, np.int64), minlength=generation.nlist)
        with self._lock:
            if self._name == generation.name or self._seed(generation):
                self._sizes += delta
            if self._counting is not None and self._counting.name == generation.name:
                self._counting.moved += delta

    def _seed(self, generation: Generation) -> bool:
        """On a move from the generation known to generation: takes the sizes a recluster
        left on it when it switched, if any (lock held). Never on the first read: those are
        as old as the recluster, and a count is due then anyway."""
        if (not self._name or generation.sizes is None
                or len(generation.sizes) != generation.nlist):
            return False
        self._name, self._sizes = generation.name, np.asarray(generation.sizes, np.int64)
        self._full_at = -np.inf  # checked by a recount on the next tick
        logger.info("cluster sizes of %s taken from its recluster", generation.name)
        return True

    def recount(self, generation: Generation, only_if_unknown: bool = False) -> None:
        """Counts every cluster of generation in Milvus (in parallel), keeping the writes
        made meanwhile: a count sees every write acknowledged before it was asked (Strong),
        so a cluster's writes after its count came back are added to it."""
        with self._recounting:
            with self._lock:
                if only_if_unknown and self._name == generation.name:
                    return
                counting = self._counting = _Recount(generation.name, generation.nlist)
            view = self._vectors.at(generation.name)

            def one(cluster: int) -> int:
                if self._stop.is_set():
                    raise Unavailable("the collection was closed during a recount")
                n = view.count(cluster, consistency="Strong")
                with self._lock:
                    counting.seen[cluster] = counting.moved[cluster]
                return n

            started = time.perf_counter()
            try:
                with ThreadPoolExecutor(COUNT_THREADS, "lookalike-sizes") as pool:
                    counts = np.fromiter(pool.map(one, range(generation.nlist)), np.int64,
                                         generation.nlist)
            finally:
                with self._lock:
                    self._counting = None
            with self._lock:
                self._name = generation.name
                self._sizes = counts + counting.moved - counting.seen
                self._full_at = time.monotonic()
                self._took = time.perf_counter() - started
            logger.debug("counted %d clusters of %s in %.2f s", generation.nlist,
                         generation.name, self._took)

    def check(self) -> None:
        """One background step: recounts if the generation changed, if the last recount is
        FULL_RECOUNT_S old, or if Milvus's total differs from ours (once the gap after the
        last recount is over)."""
        generation = self._current()
        with self._lock:
            known = self._name == generation.name
            total = int(self._sizes.sum())
            since = time.monotonic() - self._full_at
            gap = RECOUNT_GAP * self._took
        if known and since < FULL_RECOUNT_S:
            if since < gap or self._vectors.at(generation.name).count(
                    consistency="Strong") == total:
                return
        self.recount(generation)

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None or self._stop.is_set():
                return
            self._thread = threading.Thread(target=self._run, name="lookalike-sizes",
                                            daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(RECOUNT_S):
            try:
                self.check()
            except Unavailable as exc:  # GenerationGone included: the next step follows
                if not self._stop.is_set():
                    logger.warning("could not recount the cluster sizes: %s", exc)
            except Exception:  # noqa: BLE001 - the thread must outlive one bad step
                logger.exception("recounting the cluster sizes failed")

    def close(self) -> None:
        """Stops the background thread (a recount running stops between two counts)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
