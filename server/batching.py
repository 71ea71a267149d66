"""Dynamic batching: concurrent callers' work runs as one batch, a lone caller's at once.

There is no batching thread. A caller that finds nobody running a batch becomes the
leader: it waits a short window, but only while other callers are known to be on their
way (announced with `arrival()`, e.g. still decoding), then runs everything queued as one
batch and hands each caller its result. Callers queued meanwhile form the next batch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class BatchConfig:
    """window_s: the longest a batch waits for announced callers; max_batch: its size cap."""

    window_s: float = 0.002
    max_batch: int = 64


class _Slot(Generic[T, R]):
    __slots__ = ("item", "result", "error", "done")

    def __init__(self, item: T) -> None:
        self.item = item
        self.result: R | None = None
        self.error: BaseException | None = None
        self.done = False


class Arrival(Generic[T, R]):
    """A caller that announced itself; submit() its item once it is ready."""

    def __init__(self, batcher: Batcher[T, R]) -> None:
        self._batcher = batcher
        self.pending = True

    def submit(self, item: T) -> R:
        return self._batcher._submit(item, self)


class Batcher(Generic[T, R]):
    """Runs `run(items) -> results` (same length, same order) on batches of callers' items.

    Args:
        run: the batch function; an exception from it is raised in every caller of the batch.
        config: the wait window and the batch size cap.
        on_batch: called with each batch's size (for metrics).
    """

    def __init__(
        self, run: Callable[[list[T]], Sequence[R]], config: BatchConfig = BatchConfig(),
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._run = run
        self._config = config
        self._on_batch = on_batch
        self._cond = threading.Condition()
        self._queue: list[_Slot[T, R]] = []
        self._incoming = 0
        self._leading = False

    @contextmanager
    def arrival(self) -> Iterator[Arrival[T, R]]:
        """Announces a caller that will submit soon, so a forming batch waits for it."""
        arrival: Arrival[T, R] = Arrival(self)
        with self._cond:
            self._incoming += 1
        try:
            yield arrival
        finally:
            if arrival.pending:  # it failed before submitting: nobody should wait for it
                with self._cond:
                    arrival.pending = False
                    self._incoming -= 1
                    self._cond.notify_all()

    def submit(self, item: T) -> R:
        """Runs item in the next batch and returns its result (no announcement needed)."""
        return self._submit(item, None)

    def _submit(self, item: T, arrival: Arrival[T, R] | None) -> R:
        slot: _Slot[T, R] = _Slot(item)
        with self._cond:
            if arrival is not None and arrival.pending:
                arrival.pending = False
                self._incoming -= 1
            self._queue.append(slot)
            self._cond.notify_all()
            while not slot.done:
                if not self._leading:
                    self._leading = True
                    batch = self._gather()
                    self._cond.release()
                    try:
                        self._execute(batch)
                    finally:
                        self._cond.acquire()
                        self._leading = False
                        self._cond.notify_all()
                else:
                    self._cond.wait()
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]

    def _gather(self) -> list[_Slot[T, R]]:
        """Takes the next batch from the queue; called with the lock held."""
        limit = self._config.max_batch
        deadline = time.monotonic() + self._config.window_s
        while self._incoming > 0 and len(self._queue) < limit:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._cond.wait(left)
        batch, self._queue = self._queue[:limit], self._queue[limit:]
        return batch

    def _execute(self, batch: list[_Slot[T, R]]) -> None:
        try:
            results = self._run([slot.item for slot in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"batch function returned {len(results)} for {len(batch)}")
        except BaseException as exc:  # every caller of the batch gets the failure
            for slot in batch:
                slot.error = exc
        else:
            for slot, result in zip(batch, results, strict=True):
                slot.result = result
        if self._on_batch is not None:
            self._on_batch(len(batch))
        with self._cond:
            for slot in batch:
                slot.done = True
