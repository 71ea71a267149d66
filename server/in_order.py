"""Working on several rows of one request stream at once while answering them in order."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from typing import TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

_END = object()


def answer_in_order(
    items: Iterator[T], fn: Callable[[T], R], pool: Executor, window: int,
    active: Callable[[], bool],
) -> Iterator[R]:
    """Yields fn(item) for each item in input order, with up to `window` in flight in pool.

    A reader thread pulls items, so answers flow back while the caller is still sending
    (a client may wait for one answer before sending its next row). fn must not raise:
    a row's failure belongs in its answer.
    """
    order: queue.Queue[Future[R] | object] = queue.Queue()
    room = threading.Semaphore(max(1, window))
    stop = threading.Event()

    def read() -> None:
        try:
            for item in items:
                while not room.acquire(timeout=0.1):
                    if stop.is_set() or not active():
                        return
                order.put(pool.submit(fn, item))
        except Exception as exc:  # noqa: BLE001 - a cancelled call ends its request iterator
            logger.debug("request stream ended: %r", exc)
        finally:
            order.put(_END)

    reader = threading.Thread(target=read, name="stream-reader", daemon=True)
    reader.start()
    try:
        while (future := order.get()) is not _END:
            try:
                yield future.result()  # type: ignore[union-attr]
            finally:
                room.release()
    finally:
        stop.set()
