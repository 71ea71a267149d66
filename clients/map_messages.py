"""The SDK's side of Thumbnail and Map: requests, typed results, and answers checked against
the contract."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from lookalike.clients.checks import checked, int32, text
from lookalike.clients.errors import BadAnswer
from lookalike.common.errors import InvalidArgument
from lookalike.proto.v1 import lookalike_pb2 as pb

THUMBS_PER_CALL = 100  # the server's most ids per Thumbnail call
STATUSES = {pb.Thumb.OK: "ok", pb.Thumb.UNKNOWN_ID: "unknown_id",
            pb.Thumb.FILE_MISSING: "file_missing", pb.Thumb.UNREADABLE: "unreadable"}
MAX_CHUNK = 50_000  # the server's most points per Map chunk


@dataclass(frozen=True)
class Thumbnail:
    """One id's thumbnail: image holds the encoded picture when status is "ok"; otherwise
    status says why there is none ("unknown_id", "file_missing", "unreadable") and image is
    b""."""

    id: str
    status: str
    image: bytes = b""
    mime_type: str = ""
    width: int = 0
    height: int = 0


@dataclass(frozen=True)
class CollectionMap:
    """Every stored image's 2-D map position: ids[i] is at xy[i] (float32) in cluster
    clusters[i]; placed[i] is True where the image was added after the map was computed
    (placed near its neighbours). version changes when the map is recomputed."""

    ids: list[str]
    xy: np.ndarray
    clusters: np.ndarray
    placed: np.ndarray
    version: str

    def __len__(self) -> int:
        return len(self.ids)


def thumbnail_requests(ids: Iterable[str], size: int) -> list[pb.ThumbnailRequest]:
    """The requests for ids, THUMBS_PER_CALL at a time, in order (none for no ids)."""
    if isinstance(ids, str):
        raise InvalidArgument("ids must be a list of ids, not one text")
    wanted = [text(i, f"id {n} of the thumbnails") for n, i in enumerate(ids)]
    size = int32(size, "the thumbnail size")
    return [pb.ThumbnailRequest(ids=wanted[at:at + THUMBS_PER_CALL], size=size)
            for at in range(0, len(wanted), THUMBS_PER_CALL)]


def thumbnails_of(response: pb.ThumbnailResponse, asked: pb.ThumbnailRequest
                  ) -> list[Thumbnail]:
    """The thumbnails of one answer, which must hold the ids asked for, in order."""
    checked(response, "the server's thumbnail answer")
    got = [t.id for t in response.thumbs]
    if got != list(asked.ids):
        raise BadAnswer(f"the server answered thumbnails of {got[:3]} for {list(asked.ids)[:3]}")
    out = []
    for t in response.thumbs:
        if t.status not in STATUSES:
            raise BadAnswer(f"the server answered an unknown thumbnail status {t.status}")
        ok = t.status == pb.Thumb.OK
        if ok and not t.image:
            raise BadAnswer(f"the server answered an empty thumbnail for {t.id!r:.80}")
        out.append(Thumbnail(t.id, STATUSES[t.status], t.image if ok else b"",
                             t.mime_type if ok else "", t.width, t.height))
    return out


def map_request(chunk_size: int) -> pb.MapRequest:
    chunk_size = int32(chunk_size, "chunk_size")
    if not 0 <= chunk_size <= MAX_CHUNK:
        raise InvalidArgument(f"chunk_size must be 1 to {MAX_CHUNK} (0: the server's "
                              f"default), got {chunk_size}")
    return pb.MapRequest(chunk_size=chunk_size)


class MapAssembly:
    """Collects a Map call's chunks into one CollectionMap, checking each."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self._parts: list[tuple[np.ndarray, ...]] = []
        self.version: str | None = None

    def add(self, chunk: pb.MapChunk) -> None:
        checked(chunk, "the server's map chunk")
        n = len(chunk.ids)
        if {len(chunk.x), len(chunk.y), len(chunk.clusters), len(chunk.placed)} != {n}:
            raise BadAnswer("a map chunk's ids, x, y, clusters and placed differ in length")
        if self.version is not None and chunk.map_version != self.version:
            raise BadAnswer("the map's chunks name different versions")
        self.version = chunk.map_version
        self.ids.extend(chunk.ids)
        self._parts.append((np.column_stack([np.asarray(chunk.x, np.float32),
                                             np.asarray(chunk.y, np.float32)]).reshape(n, 2),
                            np.asarray(chunk.clusters, np.int32),
                            np.asarray(chunk.placed, bool)))

    def result(self) -> CollectionMap:
        if self.version is None:
            raise BadAnswer("the server's map answer held no chunk")
        if len(set(self.ids)) != len(self.ids):
            raise BadAnswer("the server's map names an id twice")
        xy, clusters, placed = (np.concatenate([p[i] for p in self._parts]) for i in range(3))
        return CollectionMap(self.ids, xy, clusters, placed, self.version)
