"""Which device JAX computes on, logged once when a process first uses a model."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Sequence
from typing import Any

logger = logging.getLogger(__name__)


def device_line(devices: Sequence[Any], version: str, xla_flags: str, cores: int) -> str:
    """One line naming JAX's default devices, e.g. "jax 0.10.2: cpu (2 threads)" or
    "jax 0.10.2: gpu NVIDIA H200".

    devices: jax.devices() (each has .platform and .device_kind).
    xla_flags: XLA_FLAGS; XLA's CPU backend runs single-threaded with
        --xla_cpu_multi_thread_eigen=false (as `lookalike serve` sets), else on every core.
    """
    if not devices:
        return f"jax {version}: no device"
    first = devices[0]
    if first.platform == "cpu":
        single = "--xla_cpu_multi_thread_eigen=false" in xla_flags.split()
        threads = 1 if single else cores
        return f"jax {version}: cpu ({threads} thread{'s' if threads != 1 else ''})"
    kinds = sorted({d.device_kind for d in devices})
    count = f" x{len(devices)}" if len(devices) > 1 else ""
    return f"jax {version}: {first.platform} {', '.join(kinds)}{count}"


@functools.cache
def log_device() -> str:
    """Logs device_line at INFO, the first time only (a model's first use); returns it."""
    import jax

    line = device_line(jax.devices(), jax.__version__, os.environ.get("XLA_FLAGS", ""),
                       len(os.sched_getaffinity(0)))
    logger.info("%s", line)
    return line
