"""Thumbnails for the page: requests that arrive together become one Thumbnail call (up to
100 ids), good answers are kept in a byte-capped LRU, and a missing or unreadable file is a
placeholder tile, not an error."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from lookalike.common.byte_lru import ByteLru

MAX_BATCH = 100  # ids per Thumbnail call, the RPC's limit
WINDOW_S = 0.004  # how long the first request of a batch waits for others to join it

Fetch = Callable[[list[str], int], Awaitable[list[Any]]]

PLACEHOLDER = """<svg xmlns="http://www.w3.org/2000/svg" width="{s}" height="{s}" \
viewBox="0 0 128 128"><rect width="128" height="128" fill="#eceff1"/>\
<path d="M40 44h48v40H40z" fill="none" stroke="#90a4ae" stroke-width="4"/>\
<path d="M36 92L92 36" stroke="#90a4ae" stroke-width="4"/>\
<text x="64" y="112" font-family="sans-serif" font-size="12" text-anchor="middle" \
fill="#607d8b">{why}</text></svg>"""
WHY = {"file_missing": "file missing", "unreadable": "unreadable", "unknown_id": "not stored"}


def placeholder(status: str, size: int) -> bytes:
    """The tile shown for an image the server could not read (status from the Thumbnail)."""
    return PLACEHOLDER.format(s=size, why=WHY.get(status, "no image")).encode()


class Batcher:
    """Coalesces concurrent thumbnail requests of one size into Thumbnail calls."""

    def __init__(self, fetch: Fetch, cache_bytes: int) -> None:
        self._fetch = fetch
        self.cache: ByteLru[Any] = ByteLru(cache_bytes, lambda thumb: len(thumb.image))
        self._waiting: dict[int, dict[str, asyncio.Future]] = {}
        self.calls = 0  # Thumbnail calls made, for tests and the log

    async def get(self, id: str, size: int) -> Any:
        """The Thumbnail of id at size (status "ok" or why not); errors of the call raise."""
        if (hit := self.cache.get((id, size))) is not None:
            return hit
        waiting = self._waiting.setdefault(size, {})
        future = waiting.get(id)
        if future is None:
            future = waiting[id] = asyncio.get_running_loop().create_future()
            if len(waiting) == 1:
                asyncio.get_running_loop().call_later(WINDOW_S, self._flush_soon, size)
            elif len(waiting) >= MAX_BATCH:
                self._flush_soon(size)
        return await asyncio.shield(future)

    def _flush_soon(self, size: int) -> None:
        batch = self._waiting.pop(size, {})
        if batch:
            asyncio.get_running_loop().create_task(self._flush(size, batch))

    async def _flush(self, size: int, batch: dict[str, asyncio.Future]) -> None:
        ids = list(batch)
        self.calls += 1
        try:
            thumbs = await self._fetch(ids, size)
        except Exception as exc:  # every waiter gets the call's error, mapped by its route
            for future in batch.values():
                if not future.done():
                    future.set_exception(exc)
            return
        for id, thumb in zip(ids, thumbs, strict=True):
            if thumb.status == "ok":
                self.cache.put((id, size), thumb)
            if not batch[id].done():
                batch[id].set_result(thumb)
