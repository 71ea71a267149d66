"""`lookalike serve --processes N`: a parent that holds the folder and the port, and keeps N
worker processes serving them.

grpc's Python answer to the GIL (its examples/python/multiprocessing): one grpc server per
process, all listening on one port with SO_REUSEPORT, so the kernel spreads connections
over them. Workers are spawned (a fresh interpreter each): the parent never imports JAX or
starts a grpc server, and forking a process that has either is unsafe.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from lookalike.server.config import ServerConfig
from lookalike.server.group.metrics import (
    group_endpoint,
    new_metrics_dir,
    remove_metrics_dir,
    worker_gone,
)
from lookalike.server.group.ports import PortReservation
from lookalike.server.group.worker import FAILED, READY, WorkerSpec, run_worker

logger = logging.getLogger(__name__)

FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0
STEADY_S = 60.0  # a worker that served this long before it died starts again after 1 s
POLL_S = 0.25
# Beyond --drain and --grace: a worker that is loading when told to stop first finishes the
# batch shape it is compiling (exiting during a compilation aborts the process).
STOP_MARGIN_S = 60.0


class GroupStartFailed(Exception):
    """A worker could not start, so the group did not: the worker's exit code and message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Slot:
    """One of the N places a worker serves in; a restarted worker takes its dead one's."""

    index: int
    process: Any = None  # multiprocessing's SpawnProcess while one runs
    report: Connection | None = None
    ready: bool = False
    ready_at: float = 0.0
    backoff_s: float = FIRST_BACKOFF_S
    restart_at: float | None = None
    failure: tuple[int, str] | None = None
    exitcode: int | None = None


class Supervisor:
    """Starts the workers, restarts one that dies (with backoff), and stops them all."""

    def __init__(self, collection: Path, config: ServerConfig, processes: int, *,
                 shared: bool, metrics_dir: str, log_level: int, quiet: bool) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._spec = WorkerSpec(0, collection, config, shared, log_level, quiet, 0)
        self._metrics_dir = metrics_dir
        self.slots = [Slot(i) for i in range(processes)]
        self.restarts = 0
        self.stopping = False

    def serving(self) -> int:
        return sum(1 for s in self.slots if s.ready and s.process is not None)

    def start(self, stop: threading.Event) -> bool:
        """Starts every worker and waits until all serve (True) or stop is set (False).

        Raises:
            GroupStartFailed: a worker failed or died before it served; the others are
                stopped first.
        """
        for slot in self.slots:
            self._spawn(slot)
        while not all(s.ready for s in self.slots):
            if stop.is_set():
                return False
            self.poll(POLL_S)
            dead = next((s for s in self.slots if s.process is None and not s.ready), None)
            if dead is not None:
                self.stop(STOP_MARGIN_S)
                code, message = dead.failure or (1, f"worker {dead.index} {_ended(dead)} "
                                                    "before it was ready")
                raise GroupStartFailed(code, message)
        return True

    def run(self, stop: threading.Event) -> None:
        """Keeps the workers serving until stop is set."""
        while not stop.is_set():
            self.poll(POLL_S)
            now = time.monotonic()
            for slot in self.slots:
                if slot.restart_at is not None and slot.restart_at <= now:
                    self.restarts += 1
                    self._spawn(slot)

    def poll(self, timeout: float) -> None:
        """Waits up to timeout for a worker's report or exit, and handles what came."""
        waiting: list[Any] = [s.report for s in self.slots if s.report is not None]
        waiting += [s.process.sentinel for s in self.slots if s.process is not None]
        if not waiting:
            time.sleep(timeout)
            return
        came = wait(waiting, timeout)
        for slot in self.slots:
            if slot.report is not None and slot.report in came:
                self._read(slot)
            if slot.process is not None and slot.process.sentinel in came:
                self._exited(slot)

    def stop(self, timeout_s: float) -> int:
        """SIGTERM to every worker (each stops as a lone server does on SIGTERM), then waits
        up to timeout_s for all; kills any left. 0 when every worker exited 0."""
        self.stopping = True
        for slot in self.slots:
            slot.restart_at = None
            if slot.process is not None and slot.process.is_alive():
                slot.process.terminate()
        deadline = time.monotonic() + timeout_s
        while any(s.process is not None for s in self.slots):
            left = deadline - time.monotonic()
            if left <= 0:
                for slot in self.slots:
                    if slot.process is not None:
                        logger.error("worker %d (pid %d) did not stop within %.0fs; killing it",
                                     slot.index, slot.process.pid, timeout_s)
                        slot.process.kill()
                deadline = float("inf")
            self.poll(min(POLL_S, max(left, 0.01)))
        # -SIGTERM: the signal came before the worker's interpreter could install a handler,
        # so it had not opened anything yet.
        failed = [s for s in self.slots if s.exitcode not in (0, None, -signal.SIGTERM)]
        for slot in failed:
            logger.error("worker %d %s while stopping", slot.index, _ended(slot))
        return 1 if failed else 0

    def _spawn(self, slot: Slot) -> None:
        receive, send = self._context.Pipe(duplex=False)
        spec = replace(self._spec, index=slot.index, parent_pid=os.getpid())
        process = self._context.Process(target=run_worker, args=(spec, send),
                                        name=f"lookalike-worker-{slot.index}")
        process.start()
        send.close()  # the worker holds the only writing end: its exit closes the pipe
        slot.process, slot.report = process, receive
        slot.ready, slot.restart_at, slot.failure, slot.exitcode = False, None, None, None
        logger.info("worker %d started (pid %d)", slot.index, process.pid)

    def _read(self, slot: Slot) -> None:
        assert slot.report is not None
        try:
            message = slot.report.recv()
        except (EOFError, OSError):
            slot.report.close()
            slot.report = None
            return
        if message[0] == READY:
            slot.ready, slot.ready_at = True, time.monotonic()
            logger.info("worker %d (pid %d) is serving", slot.index, slot.process.pid)
        elif message[0] == FAILED:
            slot.failure = (int(message[1]), str(message[2]))
            logger.error("worker %d cannot serve: %s", slot.index, message[2])

    def _exited(self, slot: Slot) -> None:
        process = slot.process
        process.join()
        while slot.report is not None and slot.report.poll():  # a last report, unread
            self._read(slot)
        if slot.report is not None:
            slot.report.close()
            slot.report = None
        worker_gone(process.pid, self._metrics_dir)
        slot.process, slot.exitcode = None, process.exitcode
        served = slot.ready
        slot.ready = False
        if self.stopping or not self._started():
            return  # stopping, or still starting: start() reports it
        if served and time.monotonic() - slot.ready_at >= STEADY_S:
            slot.backoff_s = FIRST_BACKOFF_S
        slot.restart_at = time.monotonic() + slot.backoff_s
        logger.warning("worker %d (pid %d) %s; starting it again in %.0fs", slot.index,
                       process.pid, _ended(slot), slot.backoff_s)
        slot.backoff_s = min(slot.backoff_s * 2, MAX_BACKOFF_S)

    def _started(self) -> bool:
        """Whether the group has served (every worker was ready at least once)."""
        return all(s.ready or s.ready_at > 0 for s in self.slots)


def _ended(slot: Slot) -> str:
    code = slot.exitcode
    if code is not None and code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def serve_group(collection_dir: str | Path, config: ServerConfig, processes: int,
                ready: Callable[[int], None] | None = None, *,
                log_level: int = logging.WARNING, quiet: bool = False) -> int:
    """Serves with `processes` workers until SIGTERM or SIGINT, then stops them all.

    Returns 0 once every worker has stopped gracefully (as a lone server does on SIGTERM),
    1 if one had to be killed. ready is called with the port once every worker serves.

    Raises:
        InvalidArgument: a port that cannot be bound.
        CollectionLocked: another process has the collection.
        GroupStartFailed: a worker could not start (its exit code and message).
    """
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    folder = Path(collection_dir)
    with ExitStack() as held:
        shared = _hold_folder(folder, held)
        reservation = held.enter_context(PortReservation(config.host, config.port))
        metrics_dir = new_metrics_dir()
        held.callback(remove_metrics_dir, metrics_dir)
        supervisor = Supervisor(
            folder, replace(config, port=reservation.port, metrics_port=None, processes=1),
            processes, shared=shared, metrics_dir=metrics_dir, log_level=log_level, quiet=quiet)
        if config.metrics_port is not None:
            held.callback(group_endpoint(config.metrics_host, config.metrics_port,
                                         metrics_dir, supervisor.serving,
                                         lambda: supervisor.restarts).close)
        logger.info("listening on %s:%d with %d worker processes; loading the model",
                    config.host, reservation.port, processes)
        try:
            if not supervisor.start(stop):
                logger.info("stopping before every worker was ready")
                return supervisor.stop(STOP_MARGIN_S)
            if ready:
                ready(reservation.port)
            supervisor.run(stop)
        except BaseException:
            supervisor.stop(STOP_MARGIN_S)
            raise
        logger.info("stopping %d workers: draining %.1fs, then finishing in-flight calls "
                    "(grace %.1fs)", processes, config.drain_s, config.grace_s)
        return supervisor.stop(config.drain_s + config.grace_s + STOP_MARGIN_S)


def _hold_folder(folder: Path, held: ExitStack) -> bool:
    """Takes a local collection's folder lock for the group (refusing a second server as a
    lone server does); True when the workers open it shared, False for Milvus."""
    from lookalike.indexer.lock import FolderLock
    from lookalike.indexer.manifest import read_manifest
    from lookalike.indexer.milvus.folder import is_milvus_folder

    if is_milvus_folder(read_manifest(folder)):
        return False  # Milvus serves any number of servers; there is no folder to hold
    held.callback(FolderLock(folder).close)
    _write_snapshot(folder)
    return True


def _write_snapshot(folder: Path) -> None:
    """The mapped vector snapshot the workers share (indexer/local/snapshot.py), so N workers do
    not each hold a private copy of the vectors. It is a cache: without it (no room for
    it) each worker loads its own copy from SQLite, as a lone server does."""
    from lookalike.common.errors import StorageFull
    from lookalike.indexer.local.snapshot import write_snapshot

    started = time.monotonic()
    try:
        path = write_snapshot(folder)
    except StorageFull as exc:
        logger.warning("no shared vector snapshot, each worker loads its own copy: %s", exc)
        return
    logger.info("wrote %s in %.1fs", path, time.monotonic() - started)
