"""XLA settings lookalike runs with; they apply only if set before JAX starts its backend.

XLA reads XLA_FLAGS once, when the first computation starts the CPU backend, so these are
environment edits made at import. A flag the operator already gives in XLA_FLAGS wins.
"""

from __future__ import annotations

import logging
import os
import sys

logger = logging.getLogger(__name__)

# XLA CPU's YNNPACK fusions made our training step 17% slower and batched embedding 35%
# slower on 2 cores (jax 0.10.2; BENCHMARKS.md, "Encoder"); with them off, convolutions
# and their gradients take XLA's own Eigen paths.
DEFAULT_XLA_FLAGS = ("--xla_cpu_experimental_ynn_fusion_type=",)


def add_xla_flags(*flags: str, warn_if_late: bool = True) -> None:
    """Appends each `--name=value` flag to XLA_FLAGS unless XLA_FLAGS already names it."""
    current = os.environ.get("XLA_FLAGS", "")
    named = {token.split("=", 1)[0].lstrip("-") for token in current.split()}
    extra = [f for f in flags if f.split("=", 1)[0].lstrip("-") not in named]
    if not extra:
        return
    if _backend_started():
        log = logger.warning if warn_if_late else logger.info
        log("JAX's backend already started; XLA flags %s do not apply", extra)
    os.environ["XLA_FLAGS"] = " ".join([current, *extra]).strip()


def _backend_started() -> bool:
    jax = sys.modules.get("jax")
    if jax is None:
        return False
    try:
        from jax._src import xla_bridge

        return bool(xla_bridge._backends)
    except (ImportError, AttributeError):
        return False
