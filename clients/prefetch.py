"""One query row made ready to send: read, fetched and downsized, or its error."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from lookalike.clients import images
from lookalike.clients.images import prepare
from lookalike.common.errors import LookalikeError
from lookalike.common.fetch import FetchLimits
from lookalike.common.sources import is_url

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prepared:
    """One input row made ready to send: its bytes, or the error that stopped it here."""

    row: int
    query: Any
    data: bytes | None = None
    error: LookalikeError | None = None


def downsized(location: str, size: int, limits: FetchLimits) -> images.Ready | str:
    """The bytes prepare() would send for location, marked so that the stream sends them
    as they are; or location itself when reading it failed: the stream then reads it again
    and reports the row's error as it always does. Module-level, so that worker processes
    can run it (clients/bulk.py)."""
    try:
        return images.Ready(prepare(location, size, limits))
    except (LookalikeError, OSError, ValueError):
        return location


def prepare_row(row: int, query: Any, size: int | None, limits: FetchLimits) -> Prepared:
    """Reads (or fetches) and optionally downsizes one query; never raises for bad input."""
    try:
        return Prepared(row, query, data=prepare(query, size, limits))
    except LookalikeError as exc:
        return Prepared(row, query, error=exc)
    except (OSError, ValueError) as exc:  # a read or decode failure Pillow raised raw
        return Prepared(row, query, error=LookalikeError(f"could not read {query!r}: {exc}"))


class RowFeed:
    """One bulk stream's rows, handed to search_many in the order they become ready.

    URL rows are fetched (and downsized) in `threads` threads, so a URL that takes its
    whole fetch deadline holds back no other row; rows of local files come from
    `read_local` (given their locations, it yields what to send for each, in order: the
    processes of lookalike.common.pool, or the locations themselves). A URL that fails
    is not sent: its error is its outcome. in_row_order puts the outcomes back in row
    order. At most `ahead` rows are started past the oldest one not yet yielded there,
    which bounds both the rows prepared and the outcomes waiting for an earlier row.
    """

    def __init__(self, locations: list[str], fetch: Callable[[int, str], Prepared],
                 read_local: Callable[[list[str]], Iterator[Any]], threads: int,
                 ahead: int) -> None:
        self.locations, self.ahead = locations, max(1, ahead)
        self.changed = threading.Condition()
        self._fetch, self._read_local = fetch, read_local
        self._ready: deque[tuple[int, Any]] = deque()  # (row, what to send), not yet sent
        self._order: list[int] = []  # rows in the order they were handed to the stream
        self._done: dict[int, Any] = {}  # outcomes not yet yielded, by row
        self._error: BaseException | None = None
        self._settled = self._yielded = 0
        self._closed = self._answers_ended = False
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="lookalike-bulk-fetch")
        threading.Thread(target=self._start_rows, daemon=True, name="lookalike-bulk").start()

    def __iter__(self) -> Iterator[Any]:
        """What search_many sends, as each row becomes ready; ends after the last row."""
        while True:
            with self.changed:
                self.changed.wait_for(lambda: self._ready or self._error or self._closed
                                      or self._settled == len(self.locations))
                if self._error is not None:
                    raise self._error
                if self._closed or not self._ready:
                    return
                row, query = self._ready.popleft()
                self._order.append(row)
            yield query

    def in_row_order(self, answers: Iterator[Any]) -> Iterator[Any]:
        """The outcome of every row, in row order, from search_many's answers to this feed
        (read in a thread of their own, so that no row waits on another's place in line)
        and the errors of the rows never sent."""
        threading.Thread(target=self._take_answers, args=(answers,), daemon=True,
                         name="lookalike-bulk-answers").start()
        return self._outcomes()

    def _outcomes(self) -> Iterator[Any]:
        for row, location in enumerate(self.locations):
            with self.changed:
                self.changed.wait_for(lambda: row in self._done or self._error  # noqa: B023
                                      or self._answers_ended)
                if row not in self._done:
                    raise self._error or LookalikeError(
                        f"the stream ended without an answer for {location!r:.200}")
                outcome = self._done.pop(row)
                self._yielded = row + 1
                self.changed.notify_all()
            yield outcome

    def close(self) -> None:
        with self.changed:
            self._closed = True
            self.changed.notify_all()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _take_answers(self, answers: Iterator[Any]) -> None:
        try:
            for taken, outcome in enumerate(answers):  # in the order rows were handed over
                with self.changed:
                    self._done[self._order[taken]] = outcome
                    self.changed.notify_all()
        except BaseException as exc:  # noqa: BLE001 - in_row_order raises it to the caller
            self._fail(exc)
        finally:
            with self.changed:
                self._answers_ended = True
                self.changed.notify_all()

    def _start_rows(self) -> None:
        local = self._read_local([loc for loc in self.locations if not is_url(loc)])
        try:
            for row, location in enumerate(self.locations):
                with self.changed:
                    self.changed.wait_for(
                        lambda: self._closed or row - self._yielded < self.ahead)  # noqa: B023
                    if self._closed:
                        return
                if is_url(location):
                    self._pool.submit(self._fetch_row, row, location)
                else:
                    self._settle(row, next(local))
        except BaseException as exc:  # noqa: BLE001 - the stream raises it to the caller
            self._fail(exc)
        finally:
            getattr(local, "close", lambda: None)()

    def _fetch_row(self, row: int, location: str) -> None:
        try:
            prepared = self._fetch(row, location)
        except BaseException as exc:  # noqa: BLE001 - a bug: the caller gets it
            self._fail(exc)
            return
        if prepared.error is not None:
            self._settle(row, None, prepared.error)
        else:
            self._settle(row, images.Ready(prepared.data or b""))

    def _settle(self, row: int, query: Any, error: LookalikeError | None = None) -> None:
        with self.changed:
            if error is not None:
                self._done[row] = error
            else:
                self._ready.append((row, query))
            self._settled += 1
            self.changed.notify_all()

    def _fail(self, exc: BaseException) -> None:
        with self.changed:
            self._error = self._error or exc
            self.changed.notify_all()
