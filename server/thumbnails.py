"""The Thumbnail call: stored ids' files read by the server, shrunk, drawn on white, JPEG-coded,
and kept in a bounded in-memory LRU cache."""

from __future__ import annotations

import io
import logging
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

from lookalike.common import imaging
from lookalike.common.byte_lru import ByteLru
from lookalike.common.errors import InvalidArgument, LookalikeError, NotFound
from lookalike.common.fetch import fetch_url
from lookalike.common.paths import local_path
from lookalike.common.sources import is_url, read_image_file
from lookalike.indexer.ids import check_ids
from lookalike.indexer.interface import CollectionLike
from lookalike.proto.v1 import lookalike_pb2 as pb
from lookalike.server.config import ServerConfig

logger = logging.getLogger(__name__)

MAX_IDS = 100  # ids of one call: a page of a grid, and a response of a few hundred KB
DEFAULT_SIZE = 128  # a grid tile; what "size 0" asks for
MIN_SIZE, MAX_SIZE = 16, 512  # smaller says nothing; larger is a picture, not a thumbnail
# 85 is Pillow's usual "good" setting: a 128 px photo thumbnail of about 4-6 KB
# (benchmarks/thumbnail_bench.py measures the mean).
JPEG_QUALITY = 85
MIME = "image/jpeg"
# A file larger than this is not read (its thumbnail is UNREADABLE): reading it whole would
# hold that much memory per call; the pixel cap (--max-pixels) guards decoding on top.
MAX_FILE_BYTES = 256 * 1024 * 1024

OK, UNKNOWN_ID, FILE_MISSING, UNREADABLE = (pb.Thumb.OK, pb.Thumb.UNKNOWN_ID,
                                            pb.Thumb.FILE_MISSING, pb.Thumb.UNREADABLE)


class Made(NamedTuple):
    """One file's thumbnail, or the status saying why there is none."""

    status: int
    image: bytes = b""
    width: int = 0
    height: int = 0


# A kept thumbnail costs its JPEG plus about this for its key and tuple.
ENTRY_OVERHEAD = 200


def thumbnail_cache(max_bytes: int) -> ByteLru[Made]:
    """Thumbnails by (file, size, file version): the key holds the file's mtime, size and
    inode, so a file replaced or rewritten is made again, and a file deleted is seen as
    missing (its stat fails before the cache is asked)."""
    return ByteLru(max_bytes, lambda made: len(made.image) + ENTRY_OVERHEAD)


def check_thumbnail_request(request: pb.ThumbnailRequest) -> tuple[list[str], int]:
    """(the ids, the size in pixels) of a request, or InvalidArgument saying what is wrong."""
    ids = list(request.ids)
    if not ids:
        raise InvalidArgument("no ids given: ask for the thumbnails of 1 to "
                              f"{MAX_IDS} ids")
    if len(ids) > MAX_IDS:
        raise InvalidArgument(f"{len(ids)} ids; at most {MAX_IDS} thumbnails per call")
    check_ids(ids)  # an id no add accepts (empty, overlong) is refused as in an add
    size = request.size or DEFAULT_SIZE
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise InvalidArgument(f"size must be {MIN_SIZE} to {MAX_SIZE} pixels (0: "
                              f"{DEFAULT_SIZE}), got {request.size}")
    return ids, size


class Thumbnailer:
    """Answers Thumbnail calls over one collection; safe to call from many threads."""

    def __init__(self, collection: CollectionLike, config: ServerConfig) -> None:
        self.collection = collection
        self.config = config
        self.cache = thumbnail_cache(config.thumbnail_cache_mb * 1024 * 1024)
        # Pillow releases the GIL while it decodes and encodes: one thread per core.
        self._pool = ThreadPoolExecutor(max_workers=config.decode_threads or os.cpu_count() or 1,
                                        thread_name_prefix="thumbnail")

    def answer(self, request: pb.ThumbnailRequest) -> pb.ThumbnailResponse:
        ids, size = check_thumbnail_request(request)
        unique = list(dict.fromkeys(ids))
        items, _ = self.collection.get(unique)
        paths = {item.row.id: item.row.path for item in items}
        made = dict(zip(unique, self._pool.map(
            lambda i: self.one(paths[i], size) if i in paths else Made(UNKNOWN_ID), unique),
            strict=True))
        return pb.ThumbnailResponse(thumbs=[
            pb.Thumb(id=i, status=made[i].status, image=made[i].image,
                     mime_type=MIME if made[i].status == OK else "",
                     width=made[i].width, height=made[i].height) for i in ids])

    def one(self, path: str, size: int) -> Made:
        """The thumbnail of the file a stored path names (cached), or why there is none."""
        if is_url(path):
            return self._of_url(path, size)
        try:
            where = local_path(path)
            info = os.stat(where)
        except (OSError, ValueError):  # gone, unreadable folder, or a NUL in the name
            return Made(FILE_MISSING)
        if not stat.S_ISREG(info.st_mode):
            return Made(FILE_MISSING)  # a folder or a device where the file was
        if info.st_size > MAX_FILE_BYTES:
            return Made(UNREADABLE)
        key = (where, size, info.st_mtime_ns, info.st_size, info.st_ino)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        try:
            made = self._make(read_image_file(path), size)
        except NotFound:  # deleted, or unreadable to us, since the stat
            return Made(FILE_MISSING)
        self.cache.put(key, made)
        return made

    def _of_url(self, url: str, size: int) -> Made:
        """An image stored by URL: fetched only where the server may fetch (--fetch-hosts)."""
        if not self.config.allow_url_fetch:
            return Made(FILE_MISSING)
        key = (url, size)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        try:
            data = fetch_url(url, self.config.fetch_limits())
        except LookalikeError as exc:
            logger.info("no thumbnail of %s: %s", url, exc)
            return Made(FILE_MISSING)  # not cached: the host may answer later
        made = self._make(data, size)
        self.cache.put(key, made)
        return made

    def _make(self, data: bytes, size: int) -> Made:
        try:
            picture = imaging.thumbnail(data, size, self.config.max_pixels)
        except LookalikeError as exc:  # InvalidImage, ImageTooLarge
            logger.debug("unreadable image: %s", exc)
            return Made(UNREADABLE)
        out = io.BytesIO()
        picture.save(out, "JPEG", quality=JPEG_QUALITY)
        return Made(OK, out.getvalue(), picture.width, picture.height)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
