"""Prometheus metrics of one server, in a registry of its own, with an optional HTTP endpoint."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

logger = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

STAGE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                 0.25, 0.5, 1.0, 2.5, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class Metrics:
    """Calls by method and code, per-stage latency, batch sizes, abandoned work, images served."""

    def __init__(self) -> None:
        # A registry per server, so several servers in one process (tests) do not collide.
        self.registry = CollectorRegistry()
        self.calls = Counter("lookalike_calls", "Calls answered, by method and status code.",
                             ["method", "code"], registry=self.registry)
        self.call_seconds = Histogram("lookalike_call_seconds", "Call duration, by method.",
                                      ["method"], buckets=STAGE_BUCKETS, registry=self.registry)
        self.stage_seconds = Histogram(
            "lookalike_stage_seconds",
            "Time in each stage: fetch, decode (per image), encode and search (per batch).",
            ["stage"], buckets=STAGE_BUCKETS, registry=self.registry)
        self.batch_size = Histogram("lookalike_batch_size", "Queries per encoder/search batch.",
                                    buckets=BATCH_BUCKETS, registry=self.registry)
        self.abandoned = Counter(
            "lookalike_abandoned", "Queries dropped because their caller went away, by stage.",
            ["stage"], registry=self.registry)
        self.duplicate_steps = Counter(
            "lookalike_duplicate_steps", "Steps of FindDuplicates work (range searches, groups,"
            " files read), each begun after asking whether its caller still waits.",
            registry=self.registry)
        # Worker processes (server/group/metrics.py) record into files the parent sums; a
        # gauge computed at scrape time cannot be read that way, so there the image count
        # is set after each write instead, and the group shows the latest worker's value.
        self.multiprocess = MULTIPROC_ENV in os.environ
        self.images = Gauge("lookalike_collection_images", "Images in the served collection.",
                            registry=self.registry, multiprocess_mode="livemostrecent")
        self._count_images: Callable[[], int] | None = None
        self._http: Any = None

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Times the block into the stage histogram (only when it completes)."""
        start = time.perf_counter()
        yield
        self.stage_seconds.labels(name).observe(time.perf_counter() - start)

    def track_images(self, count: Callable[[], int]) -> None:
        if self.multiprocess:
            self._count_images = count
            self.images_changed()
        else:
            self.images.set_function(count)

    def images_changed(self) -> None:
        """After a write: the image count again, where it is not read at scrape time."""
        if self._count_images is not None:
            self.images.set(self._count_images())

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        """A sample's current value (0 when absent), for tests and logs."""
        return self.registry.get_sample_value(name, labels or {}) or 0.0

    def serve_http(self, port: int, host: str) -> int:
        """Starts the /metrics endpoint; returns the bound port."""
        server, _ = start_http_server(port, addr=host, registry=self.registry)
        self._http = server
        bound = int(server.server_address[1])
        logger.info("metrics on http://%s:%d/metrics", host, bound)
        return bound

    def close(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
