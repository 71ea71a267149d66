"""The metrics of a group of worker processes, summed, on the one endpoint the parent serves.

Workers record into prometheus-client's multiprocess files (PROMETHEUS_MULTIPROC_DIR, set
before they start); the parent reads them all at each scrape (MultiProcessCollector). So a
scrape sees the whole group on one port, counters keep what a worker counted after it dies
and is restarted, and the group adds its own gauges: workers serving and restarts.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lookalike.common.errors import InvalidArgument
from lookalike.server.metrics import MULTIPROC_ENV

logger = logging.getLogger(__name__)


PREFIX = "lookalike-metrics-"


def new_metrics_dir() -> str:
    """A fresh, empty folder for the workers' metric files; exported to the environment
    that spawned workers inherit (prometheus-client reads it when a worker imports it).

    Its name carries the parent's pid. A group whose parent was killed (kill -9) could not
    remove its folder; the next group removes those whose parent is gone.
    """
    _remove_orphans(Path(tempfile.gettempdir()))
    path = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-")
    os.environ[MULTIPROC_ENV] = path
    return path


def _remove_orphans(parent: Path) -> None:
    """Removes this user's metric folders whose group parent no longer runs."""
    for folder in parent.glob(f"{PREFIX}*-*"):
        pid = folder.name[len(PREFIX):].split("-", 1)[0]
        try:
            if not pid.isdigit() or folder.stat().st_uid != os.getuid():
                continue
            os.kill(int(pid), 0)  # raises when no such process runs
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue  # alive under another user, or gone meanwhile


def remove_metrics_dir(path: str) -> None:
    if os.environ.get(MULTIPROC_ENV) == path:
        del os.environ[MULTIPROC_ENV]
    shutil.rmtree(path, ignore_errors=True)


def worker_gone(pid: int, path: str) -> None:
    """Drops a dead worker's live gauges (its counters and histograms stay in the sums)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, path)


class GroupCollector:
    """The supervisor's own figures, read at each scrape."""

    def __init__(self, serving: Callable[[], int], restarts: Callable[[], int]) -> None:
        self._serving = serving
        self._restarts = restarts

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        yield GaugeMetricFamily("lookalike_worker_processes",
                                "Worker processes serving now.", value=self._serving())
        yield CounterMetricFamily("lookalike_worker_restarts",
                                  "Worker processes started again after they died.",
                                  value=self._restarts())


class GroupMetricsEndpoint:
    """/metrics over HTTP for the whole group."""

    def __init__(self, path: str, collector: GroupCollector, port: int, host: str) -> None:
        from prometheus_client import CollectorRegistry, multiprocess, start_http_server

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=path)
        registry.register(collector)
        self._http, _ = start_http_server(port, addr=host, registry=registry)
        self.port = int(self._http.server_address[1])
        logger.info("metrics of every worker on http://%s:%d/metrics", host, self.port)

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()


def group_endpoint(host: str, port: int, path: str, serving: Callable[[], int],
                   restarts: Callable[[], int]) -> GroupMetricsEndpoint:
    """The group's /metrics on host:port.

    Raises:
        InvalidArgument: the port cannot be bound (as a lone server says it).
    """
    try:
        return GroupMetricsEndpoint(path, GroupCollector(serving, restarts), port, host)
    except OSError as exc:
        why = (exc.strerror or str(exc)).lower()
        raise InvalidArgument(f"cannot serve metrics on {host}:{port}: {why}") from None
