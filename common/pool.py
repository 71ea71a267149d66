"""An ordered map over worker processes, streamed in chunks: decoding on every core.

Pillow releases the GIL while it decodes and resizes, but opening a file, parsing its
headers and EXIF, and building the array hold it. 4 threads decoded 512x512 JPEGs 1.7x
faster than one on 2 cores (BENCHMARKS.md, "Decode"), which puts the GIL-held part near a
fifth: threads would then top out near 4-5x on 16 cores, processes near 16x.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from lookalike.common.errors import InvalidArgument, LookalikeError

T = TypeVar("T")
R = TypeVar("R")

CHUNK = 64  # items per task: ~0.1 s of decoding, so IPC costs little and order is cheap


class WorkerFailed(LookalikeError):
    """A worker process raised (a bug: expected failures come back as values) or died."""


def default_workers() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_workers(workers: int) -> int:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InvalidArgument(f"workers must be a whole number of at least 1, got {workers!r}")
    return workers


def pool_size(items: int, workers: int, chunk: int = CHUNK) -> int:
    """The processes worth starting for items: each gets two chunks at least, else starting
    it costs more than it saves (0: map here, in this process)."""
    size = min(workers, items // (2 * chunk))
    return size if size >= 2 else 0


def ordered_map(fn: Callable[[T], R], items: Sequence[T], *, workers: int,
                chunk: int = CHUNK) -> Iterator[R]:
    """fn(item) for every item, in order, in up to `workers` processes.

    fn must be picklable (a module-level function, or a functools.partial of one). Items go
    in chunks, and at most two chunks per worker are in flight, so memory stays bounded
    however many items there are. Few items (see pool_size) are mapped in `workers`
    threads here instead, as lookalike decoded before it had processes.
    Processes start with forkserver (spawn where there is none): never a fork of this
    process, whose JAX and gRPC threads a fork would copy mid-flight. Each worker imports
    the caller's main module, so a script calling this must do so under
    `if __name__ == "__main__":`.

    Raises:
        WorkerFailed: fn raised in a worker, or a worker died (killed, out of memory);
            the message names the first item of the chunk it was working on.
    """
    check_workers(workers)
    if chunk < 1:
        raise InvalidArgument(f"chunk must be at least 1, got {chunk}")
    size = pool_size(len(items), workers, chunk)
    if not size:
        if workers == 1 or len(items) < 2:
            yield from map(fn, items)
            return
        with ThreadPoolExecutor(workers) as threads:  # few items: all submitted at once
            yield from threads.map(fn, items)
        return
    with ProcessPoolExecutor(size, mp_context=_context()) as pool:
        pending: deque[tuple[slice, Future[list[R]]]] = deque()
        try:
            for start in range(0, len(items), chunk):
                part = slice(start, min(start + chunk, len(items)))
                pending.append((part, pool.submit(_apply, fn, items[part])))
                if len(pending) >= 2 * size:
                    yield from _result(*pending.popleft(), items)
            while pending:
                yield from _result(*pending.popleft(), items)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _apply(fn: Callable[[T], R], chunk: Iterable[T]) -> list[R]:
    return [fn(item) for item in chunk]


def _result(part: slice, future: Future[list[R]], items: Sequence[T]) -> list[R]:
    where = f"items {part.start} to {part.stop - 1}, from {items[part.start]!r:.200}"
    try:
        return future.result()
    except BrokenProcessPool:
        raise WorkerFailed(f"a worker process died while working on {where}: killed, out of "
                           "memory, or started from a script that runs this at import (guard "
                           "it with `if __name__ == \"__main__\":`, as multiprocessing needs)"
                           ) from None
    except Exception as exc:
        raise WorkerFailed(f"{type(exc).__name__}: {exc} (in a worker process, on {where})"
                           ) from exc


def _context() -> multiprocessing.context.BaseContext:
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # Imported once by the fork server, not by every worker it forks (each would import the
    # caller's main module again: 0.5 s or more); a no-op once the server runs.
    context.set_forkserver_preload(["__main__", "lookalike.common.decode"])
    return context
