"""The Map call: the collection's kept map (re-read when it is recomputed), images added since
placed near their neighbours (cached), deleted ones left out, streamed in chunks."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from lookalike.common import recipe
from lookalike.common.errors import InvalidArgument, NoMap
from lookalike.indexer.interface import CollectionLike, Row
from lookalike.indexer.map_file import MAP_FILE, CollectionMap, no_map_message, read_map
from lookalike.proto.v1 import lookalike_pb2 as pb

logger = logging.getLogger(__name__)

DEFAULT_CHUNK, MAX_CHUNK = 10_000, 50_000  # points per chunk (MapRequest.chunk_size)
# A chunk also ends once its ids pass this many bytes: ids may be 4,096 characters long, and
# gRPC clients refuse messages over 4 MB unless told otherwise.
MAX_CHUNK_ID_BYTES = 2 * 1024 * 1024
# Neighbours asked of the store for an image added since the map: more than MAP_NEIGHBOURS,
# since some of them may be new too and have no position of their own.
SEARCHED = 4 * recipe.MAP_NEIGHBOURS
GET_PAGE = 1000  # ids per Get when reading new images' vectors


def check_chunk_size(size: int) -> int:
    if size == 0:
        return DEFAULT_CHUNK
    if not 1 <= size <= MAX_CHUNK:
        raise InvalidArgument(f"chunk_size must be 1 to {MAX_CHUNK} (0: {DEFAULT_CHUNK}), "
                              f"got {size}")
    return size


class MapView:
    """Answers Map calls over one collection and its folder's map.npz; thread-safe."""

    def __init__(self, collection: CollectionLike, folder: Path) -> None:
        self.collection = collection
        self.folder = Path(folder)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._map: CollectionMap | None = None
        self._where: dict[str, int] = {}
        # (id, row number) -> position, for images added after the map; cleared with it.
        self._placed: dict[tuple[str, int], tuple[float, float]] = {}

    def current(self) -> tuple[CollectionMap, dict[str, int]]:
        """The map on disk now (read again when its file changed) and its id -> index."""
        try:
            info = os.stat(self.folder / MAP_FILE)
        except FileNotFoundError:
            raise NoMap(no_map_message(self.folder)) from None
        stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
        with self._lock:
            if stamp != self._stamp or self._map is None:
                found = read_map(self.folder)
                self._map, self._stamp = found, stamp
                self._where = {i: n for n, i in enumerate(found.ids)}
                self._placed = {}
                logger.info("map %s: %d points", found.version, len(found.ids))
            return self._map, self._where

    def chunks(self, request: pb.MapRequest) -> Iterator[pb.MapChunk]:
        size = check_chunk_size(request.chunk_size)
        found, where = self.current()
        rows = self.collection.rows()
        xy, placed = self.positions(rows, found, where)
        version = found.version
        start = 0
        while True:
            end, used = start, 0
            while end < len(rows) and end - start < size and (
                    end == start or used < MAX_CHUNK_ID_BYTES):
                used += len(rows[end].id.encode("utf-8"))
                end += 1
            part = rows[start:end]
            yield pb.MapChunk(ids=[r.id for r in part], x=xy[start:end, 0].tolist(),
                              y=xy[start:end, 1].tolist(), clusters=[r.cluster for r in part],
                              placed=placed[start:end].tolist(), map_version=version)
            start = end
            if start >= len(rows):
                return

    def positions(self, rows: list[Row], found: CollectionMap, where: dict[str, int]
                  ) -> tuple[np.ndarray, np.ndarray]:
        """(n, 2) positions of rows and (n,) whether each was placed after the map."""
        xy = np.zeros((len(rows), 2), np.float32)
        placed = np.zeros(len(rows), bool)
        new = []
        for n, row in enumerate(rows):
            at = where.get(row.id)
            if at is None:
                placed[n] = True
                new.append(n)
            else:
                xy[n] = found.xy[at]
        if new:
            with self._lock:
                known = {n: self._placed.get((rows[n].id, rows[n].rowid)) for n in new}
            todo = [n for n in new if known[n] is None]
            if todo:
                known.update(self._place([rows[n] for n in todo], todo, rows, found, where))
            for n in new:
                xy[n] = known[n]
        return xy, placed

    def _place(self, rows: list[Row], at: list[int], every: list[Row], found: CollectionMap,
               where: dict[str, int]) -> dict[int, tuple[float, float]]:
        """Positions of images added since the map: the mean of their nearest mapped
        neighbours' positions, found with the store's own search."""
        out: dict[int, tuple[float, float]] = {}
        fallback = self._cluster_means(every, found, where)
        for start in range(0, len(rows), GET_PAGE):
            part = rows[start:start + GET_PAGE]
            items, _ = self.collection.get([r.id for r in part], with_vectors=True)
            vectors = {item.row.id: item.vector for item in items}
            ready = [(r, n) for r, n in zip(part, at[start:start + GET_PAGE], strict=True)
                     if r.id in vectors]
            if not ready:
                continue
            hits = self.collection.search(np.stack([vectors[r.id] for r, _ in ready]),
                                          SEARCHED)
            for q, (row, n) in enumerate(ready):
                near = [where[hits.rows[i].id] for i in hits.rowids[q].tolist()
                        if i in hits.rows and hits.rows[i].id in where][:recipe.MAP_NEIGHBOURS]
                point = (found.xy[near].mean(0) if near
                         else fallback.get(row.cluster, fallback[-1]))
                out[n] = (float(point[0]), float(point[1]))
        for n in at:
            out.setdefault(n, (0.0, 0.0))  # deleted between reading rows and vectors
        with self._lock:
            if self._map is found:
                for row, n in zip(rows, at, strict=True):
                    self._placed[(row.id, row.rowid)] = out[n]
        return out

    @staticmethod
    def _cluster_means(rows: list[Row], found: CollectionMap, where: dict[str, int]
                       ) -> dict[int, np.ndarray]:
        """Each cluster's mean mapped position, and the whole map's under -1: where an image
        goes when none of its searched neighbours is on the map."""
        sums: dict[int, list] = {}
        for row in rows:
            at = where.get(row.id)
            if at is not None:
                entry = sums.setdefault(row.cluster, [np.zeros(2), 0])
                entry[0] += found.xy[at]
                entry[1] += 1
        means = {c: s / max(k, 1) for c, (s, k) in sums.items()}
        means[-1] = found.xy.mean(0) if len(found.xy) else np.zeros(2)
        return means
