"""One worker process of `lookalike serve --processes N`: today's server, on a shared port."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from lookalike.server.config import ServerConfig

# What a worker tells its parent over its pipe: ("ready", port) once it serves, or
# ("failed", exit code, message) when it cannot start.
READY = "ready"
FAILED = "failed"

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [worker {index} pid {pid}]: %(message)s"


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker needs, sent to it when it is spawned (so it must pickle).

    Attributes:
        index: the worker's slot, 0 to N-1; a restarted worker keeps its slot.
        collection: the collection folder.
        config: the server settings, with the group's port and no metrics endpoint (the
            parent serves the group's metrics).
        shared: open the collection shared with the other workers (a local collection,
            whose folder lock the parent holds); False for a Milvus collection.
        log_level: the root logger's level in the parent.
        quiet: no per-call log lines (`--quiet`).
        parent_pid: the supervisor; the worker dies with it.
    """

    index: int
    collection: Path
    config: ServerConfig
    shared: bool
    log_level: int
    quiet: bool
    parent_pid: int


def run_worker(spec: WorkerSpec, report: Connection) -> None:
    """The worker's main: serves until SIGTERM, then exits 0 (or 1 or 2 when it cannot start,
    having sent the parent why)."""
    # A terminal's Ctrl-C reaches every process of the group; until serve() installs its
    # own handlers, the parent's SIGTERM is how this worker learns to stop, and it stops
    # at once: it has not listened yet, so nothing is lost. os._exit, not sys.exit: the
    # SystemExit of sys.exit is raised wherever the main thread is, and inside a callback
    # (JAX's gc hook, while it imports) Python prints it as an ignored exception's
    # traceback and the worker runs on.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop_now)
    _die_with_parent(spec.parent_pid)
    _configure_logging(spec)
    from lookalike.common.errors import CollectionLocked, InvalidArgument, LookalikeError
    from lookalike.server.grpc_server import serve

    try:
        code = serve(spec.collection, spec.config, ready=lambda port: report.send((READY, port)),
                     shared=spec.shared, reuse_port=True)
    except (InvalidArgument, CollectionLocked) as exc:
        _fail(report, 2, exc)
    except (LookalikeError, OSError) as exc:
        _fail(report, 1, exc)
    sys.exit(code)


def _stop_now(signum: int, frame: object) -> None:
    """SIGTERM before serve() takes over: exit 0 at once, wherever the main thread is."""
    os._exit(0)


def _fail(report: Connection, code: int, exc: BaseException) -> None:
    try:
        report.send((FAILED, code, str(exc)))
    except OSError:
        pass  # the parent is gone; the exit code says the rest
    sys.exit(code)


def _configure_logging(spec: WorkerSpec) -> None:
    """The parent's log level, with each line naming its worker (a spawned process starts
    with logging unconfigured)."""
    logging.basicConfig(level=spec.log_level,
                        format=LOG_FORMAT.format(index=spec.index, pid=os.getpid()))
    if not spec.quiet:
        logging.getLogger("lookalike.server").setLevel(logging.INFO)
        logging.getLogger().setLevel(min(spec.log_level, logging.INFO))
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # its failed-build probes


def _die_with_parent(parent_pid: int) -> None:
    """Makes the kernel kill this worker when its parent dies (Linux's PR_SET_PDEATHSIG).

    The parent holds the folder lock for the group: once it is gone (kill -9), another
    server may take the folder, so its workers must not write on. They die as one process
    would; every write they acknowledged was committed first.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    except (OSError, AttributeError) as exc:  # not Linux: watch for the parent instead
        logging.getLogger(__name__).warning("cannot ask to die with the parent (%s); "
                                            "polling for it instead", exc)
        _kill_when_orphaned(parent_pid)
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def _kill_when_orphaned(parent_pid: int, every_s: float = 0.2) -> None:
    def watch() -> None:
        while os.getppid() == parent_pid:
            threading.Event().wait(every_s)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()
