"""Reading, fetching and downsizing query images ahead of the network, in order."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from lookalike.clients.images import prepare
from lookalike.common.errors import LookalikeError
from lookalike.common.fetch import FetchLimits

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prepared:
    """One input row made ready to send: its bytes, or the error that stopped it here."""

    row: int
    query: Any
    data: bytes | None = None
    error: LookalikeError | None = None


def prepare_row(row: int, query: Any, size: int | None, limits: FetchLimits) -> Prepared:
    """Reads (or fetches) and optionally downsizes one query; never raises for bad input."""
    try:
        return Prepared(row, query, data=prepare(query, size, limits))
    except LookalikeError as exc:
        return Prepared(row, query, error=exc)
    except (OSError, ValueError) as exc:  # a read or decode failure Pillow raised raw
        return Prepared(row, query, error=LookalikeError(f"could not read {query!r}: {exc}"))


def prefetched(
    items: Iterable[Any], work: Callable[[int, Any], Prepared], workers: int, lookahead: int,
) -> Iterator[Prepared]:
    """work(row, item) for each item, run in a thread pool up to lookahead rows ahead,
    yielded in input order. Pillow and file reads release the GIL, so threads overlap
    decoding with the network."""
    numbered = enumerate(items)
    queue: deque[Future[Prepared]] = deque()
    with ThreadPoolExecutor(max_workers=max(1, workers),
                            thread_name_prefix="lookalike-prefetch") as pool:
        try:
            for row, item in numbered:
                queue.append(pool.submit(work, row, item))
                if len(queue) >= lookahead:
                    break
            while queue:
                yield queue.popleft().result()
                nxt = next(numbered, None)
                if nxt is not None:
                    queue.append(pool.submit(work, *nxt))
        finally:
            for future in queue:  # stopped early: do not decode rows nobody will send
                future.cancel()
