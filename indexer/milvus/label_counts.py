"""How many images carry each label, kept in memory so that no request scans Milvus for it.

Milvus 2.3 cannot group, so a true count is a scan of every payload (0.66 s at 20K images
here). As the cluster sizes (sizes.py), the counts are:
- scanned once when the collection opens, before it serves;
- moved by every add, delete and update this server makes, as it makes them;
- rescanned in a background thread when a read finds them older than STALE_S (that read
  answers at once with what it has), and after a move to a new generation.
So this server's own writes show at once, other servers' within STALE_S plus one scan.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from lookalike.common.errors import Unavailable
from lookalike.common.labels import Payload

logger = logging.getLogger(__name__)

STALE_S = 30.0


class LabelCounts:
    def __init__(self, scan: Callable[[], dict[str, int]]) -> None:
        self._scan = scan
        self._lock = threading.Lock()
        self._counts: dict[str, int] | None = None
        self._when = -float("inf")
        self._version = 0  # moved by every own write: a scan that overlapped one is dropped
        self._busy = False

    def read(self) -> dict[str, int]:
        with self._lock:
            if self._counts is None:
                self._counts, self._when = self._scan(), time.monotonic()
            if time.monotonic() - self._when > STALE_S and not self._busy:
                self._busy = True
                threading.Thread(target=self._rescan, args=(self._version,), daemon=True,
                                 name="lookalike-label-counts").start()
            return {k: v for k, v in self._counts.items() if v > 0}

    def _rescan(self, version: int) -> None:
        try:
            counts = self._scan()
        except Unavailable as exc:
            logger.warning("could not recount labels: %s", exc)
            counts = None
        with self._lock:
            self._busy = False
            if counts is not None and version == self._version:
                self._counts, self._when = counts, time.monotonic()

    def moved(self, old: Iterable[Payload], new: Iterable[Payload]) -> None:
        """Images went from payloads old to new (an add: old empty; a delete: new empty)."""
        with self._lock:
            self._version += 1
            if self._counts is None:
                return
            for payload in old:
                for label in payload.labels:
                    self._counts[label] = self._counts.get(label, 0) - 1
            for payload in new:
                for label in payload.labels:
                    self._counts[label] = self._counts.get(label, 0) + 1

    def stale(self) -> None:
        with self._lock:
            self._when = -float("inf")
