"""The thumbnail cache's bound and the file cases a stored path can meet (the calls themselves:
tests/clients/test_thumbnails.py)."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from lookalike.common.paths import stored_path
from lookalike.indexer.local.collection import Collection
from lookalike.server.config import ServerConfig
from lookalike.server.thumbnails import (
    FILE_MISSING,
    OK,
    UNREADABLE,
    Made,
    Thumbnailer,
    thumbnail_cache,
)
from tests.server.conftest import encode, photo


@given(sizes=st.lists(st.integers(0, 5000), max_size=60), bound=st.integers(0, 20000))
def test_the_cache_never_holds_more_than_its_bound_and_keeps_the_latest(sizes, bound):
    cache = thumbnail_cache(bound)
    for n, size in enumerate(sizes):
        cache.put((n,), Made(OK, b"x" * size))
        assert cache.bytes <= bound
        if size + 200 <= bound:
            assert cache.get((n,)) is not None  # the newest always fits when it can


def test_the_least_recently_used_goes_first():
    cache = thumbnail_cache(3 * 1200)
    for key in "abc":
        cache.put((key,), Made(OK, b"x" * 1000))
    assert cache.get(("a",)) is not None  # a is now the most recent
    cache.put(("d",), Made(OK, b"x" * 1000))
    assert cache.get(("b",)) is None and cache.get(("a",)) is not None


def test_files_that_are_not_plain_images(collection_copy, tmp_path: Path):
    with Collection.open(collection_copy, read_only=True) as collection:
        maker = Thumbnailer(collection, ServerConfig(thumbnail_cache_mb=1))
        try:
            folder = tmp_path / "a-folder.jpg"
            folder.mkdir()
            assert maker.one(str(folder), 64).status == FILE_MISSING
            assert maker.one("/dev/zero", 64).status == FILE_MISSING  # not a regular file
            assert maker.one("relative/nowhere.png", 64).status == FILE_MISSING
            assert maker.one("https://example.com/a.jpg", 64).status == FILE_MISSING  # no fetch
            empty = tmp_path / "empty.png"
            empty.write_bytes(b"")
            assert maker.one(str(empty), 64).status == UNREADABLE
            # A non-UTF-8 file name, stored as a file:// URI, is still found.
            odd = os.fsdecode(bytes(tmp_path) + b"/caf\xe9.png")
            Path(odd).write_bytes(encode(photo(40), "PNG"))
            made = maker.one(stored_path(odd), 64)
            assert made.status == OK and (made.width, made.height) == (40, 40)
            big = tmp_path / "big.png"
            big.write_bytes(encode(photo(300), "PNG"))
            tight = Thumbnailer(collection, ServerConfig(max_pixels=10_000))
            assert tight.one(str(big), 64).status == UNREADABLE  # over the pixel cap
            tight.close()
        finally:
            maker.close()
