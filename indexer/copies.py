"""Duplicates of a whole collection: its vectors, the files behind its stored paths, groups.

Store-agnostic: it reads a collection only through all_vectors(), rows(), centroids and
default_nprobe, which the local and the Milvus collection both have. Files are only read
(never moved, never fetched from a URL); a file that cannot be read is simply unknown: it
has no content key and no pixel count.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, NamedTuple

import numpy as np
from PIL import Image

from lookalike.common.decode import DEFAULT_MAX_PIXELS
from lookalike.common.errors import CollectionError, LookalikeError
from lookalike.common.sources import is_url, read_image_file
from lookalike.indexer.calibration import Calibration
from lookalike.indexer.duplicates import (
    Alive,
    Group,
    always,
    check_alive,
    find_groups,
    with_exact,
)
from lookalike.indexer.interface import Row

logger = logging.getLogger(__name__)

ALIVE_EVERY = 256  # files read between two questions to the caller's alive()


class FoundGroup(NamedTuple):
    """A group with the stored rows of its members, in the same order as group.members."""

    group: Group
    rows: list[Row]


class Contents(NamedTuple):
    """What the files say: byte and pixel hashes (None: unknown) and width * height (0)."""

    byte_keys: list[bytes | None]
    pixel_keys: list[bytes | None]
    pixels: np.ndarray


def read_contents(paths: Sequence[str], decode: Sequence[bool] | None = None,
                  alive: Alive | None = None) -> Contents:
    """Hashes every readable file's bytes and reads its size from its header; decodes and
    hashes the pixels of those images where decode says so (decoding is the slow part).
    alive is asked every ALIVE_EVERY files; once it says no, DeadlineExceeded ends the work."""
    n = len(paths)
    byte_keys: list[bytes | None] = [None] * n
    pixel_keys: list[bytes | None] = [None] * n
    pixels = np.zeros(n, np.int64)
    for i, path in enumerate(paths):
        if alive is not None and i % ALIVE_EVERY == 0:
            check_alive(alive)
        data = _read(path)
        if data is None:
            continue
        byte_keys[i] = hashlib.sha256(data).digest()
        pixels[i], pixel_keys[i] = _pixels(data, bool(decode is not None and decode[i]))
    return Contents(byte_keys, pixel_keys, pixels)


def _read(path: str) -> bytes | None:
    if not path or is_url(path):
        return None
    try:
        return read_image_file(path)
    except LookalikeError as exc:
        logger.debug("duplicates: %s", exc)
        return None


def _pixels(data: bytes, decode: bool) -> tuple[int, bytes | None]:
    """(width * height from the header, a hash of the decoded pixels if decode)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if not decode or width * height > DEFAULT_MAX_PIXELS:
                return width * height, None
            image.load()
            flat = image.convert("RGBA")
            digest = hashlib.sha256(f"{width}x{height}".encode() + flat.tobytes()).digest()
            return width * height, digest
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        logger.debug("duplicates: unreadable image: %s", exc)
        return 0, None


def collection_groups(collection: Any, threshold: float, nprobe: int | None = None,
                      read_files: bool = True) -> list[FoundGroup]:
    """Every group of near-duplicates in a collection, largest first (see iter_groups)."""
    return list(iter_groups(collection, threshold, nprobe, read_files))


class Searched(NamedTuple):
    """A collection's groups as found by the search, before their members' files are read."""

    groups: list[Group]
    rows: list[Row]
    byte_keys: list[bytes | None] | None  # None: the files are not read


def iter_groups(collection: Any, threshold: float, nprobe: int | None = None,
                read_files: bool = True, alive: Alive | None = None,
                stable: Callable[[], AbstractContextManager[Any]] = nullcontext,
                ) -> Iterator[FoundGroup]:
    """Every group of near-duplicates in a collection, largest first (see search_collection
    and finish_groups)."""
    return finish_groups(search_collection(collection, threshold, nprobe, read_files, alive,
                                           stable), alive)


def search_collection(collection: Any, threshold: float, nprobe: int | None = None,
                      read_files: bool = True, alive: Alive | None = None,
                      stable: Callable[[], AbstractContextManager[Any]] = nullcontext,
                      ) -> Searched:
    """Every group of near-duplicates in a collection, largest first (see find_groups).

    nprobe: clusters searched around each image (None or 0: the collection's default).
    read_files: hash the files behind stored paths, so identical bytes or pixels are
        reported as exact and the representative is the image with the most pixels;
        without it identical vectors count as exact and the most central is chosen.
    alive: asked between range searches; once it says no, the work stops with
        DeadlineExceeded.
    stable: held while the rows and vectors are read (a server's writing lock).

    Raises:
        CollectionError: fewer than two images, where no image can have a copy.
    """
    alive = alive or always
    with stable():
        rowids, clusters, vectors = collection.all_vectors()
        rows_by_id = {r.rowid: r for r in collection.rows()}
    # A row deleted between the two reads (a writer beside us) is left out.
    kept = np.array([int(r) in rows_by_id for r in rowids], bool)
    rowids, clusters, vectors = rowids[kept], clusters[kept], vectors[kept]
    if len(rowids) < 2:
        raise CollectionError(f"the collection holds {len(rowids)} image"
                              f"{'' if len(rowids) == 1 else 's'}: duplicates need two or more")
    rows = [rows_by_id[int(r)] for r in rowids]
    contents = read_contents([r.path for r in rows], alive=alive) if read_files else None
    check_alive(alive)
    groups = find_groups(vectors, threshold, clusters=clusters, centroids=collection.centroids,
                         nprobe=nprobe or collection.default_nprobe,
                         keys=None if contents is None else [contents.byte_keys],
                         pixels=None if contents is None else contents.pixels, alive=alive)
    return Searched(groups, rows, None if contents is None else contents.byte_keys)


def finish_groups(searched: Searched, alive: Alive | None = None) -> Iterator[FoundGroup]:
    """Each group with its rows, in order, yielded once its members' files are read (the slow
    part after the search, done a group at a time); alive is asked before each group."""
    rows, byte_keys = searched.rows, searched.byte_keys
    for group in searched.groups:
        check_alive(alive or always)
        if byte_keys is not None:
            # Identical pixels under other bytes (a PNG saved twice): decode members only.
            members = group.members.tolist()
            decoded = read_contents([rows[i].path for i in members], [True] * len(members))
            pixel_keys: list[bytes | None] = [None] * len(rows)
            for i, key in zip(members, decoded.pixel_keys, strict=True):
                pixel_keys[i] = key
            group = with_exact(group, [byte_keys, pixel_keys])
        yield FoundGroup(group, [rows[i] for i in group.members])


def stored_calibration(collection: Any) -> Calibration | None:
    """The duplicate calibration a build stored in the collection (the local store's
    settings, a Milvus folder's milvus.json); None for a collection built before it."""
    milvus = getattr(collection, "duplicate_settings", None)
    if milvus is not None:
        return Calibration.from_settings(milvus)
    settings = getattr(getattr(collection, "store", None), "settings", None)
    return Calibration.from_settings(settings()) if callable(settings) else None


FIELDS = ("group", "id", "path", "distance", "representative", "exact", "group_size")


def group_records(found: list[FoundGroup]) -> list[dict[str, Any]]:
    """One flat record per member (FIELDS), groups numbered from 1, largest first."""
    return [r for number, one in enumerate(found, 1) for r in member_records(number, one)]


def member_records(number: int, found: FoundGroup) -> list[dict[str, Any]]:
    """The records (FIELDS) of one group's members, the representative first."""
    group, rows = found
    return [{"group": number, "id": row.id, "path": row.path,
             "distance": float(group.distances[k]), "representative": k == 0,
             "exact": bool(group.exact[k]), "group_size": len(rows)}
            for k, row in enumerate(rows)]
