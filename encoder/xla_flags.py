"""XLA settings lookalike runs with; they apply only if set before JAX starts its backend.

XLA reads XLA_FLAGS once, when the first computation starts the CPU backend, so these are
environment edits made at import. A flag the operator already gives in XLA_FLAGS wins.
An XLA that does not know a flag aborts the process ("Unknown flag in XLA_FLAGS"), so a
flag is only set on the jaxlib versions it was checked on.
"""

from __future__ import annotations

import logging
import os
import sys
from importlib import metadata

from packaging.version import InvalidVersion, Version

logger = logging.getLogger(__name__)

# XLA CPU's YNNPACK fusions made our training step 17% slower and batched embedding 35%
# slower on 2 cores (jax 0.10.2; benchmarks/encoder_speed.py, BENCHMARKS.md "Encoder speed");
# with them off, convolutions and their gradients take XLA's own Eigen paths.
YNN_OFF = "--xla_cpu_experimental_ynn_fusion_type="
# The jaxlib releases known to take YNN_OFF, first and last. jaxlib 0.8.0 and older abort
# on it: the flag first appears in 0.8.1 (checked here: jax 0.8.0 aborts on it and 0.8.1
# takes it; its name is in the libraries of jaxlib 0.8.1 to 0.10.2, and not in 0.4.30 to
# 0.8.0). 0.11.2, which this registry does not have, ran lookalike on a GPU machine while
# lookalike still set the flag on every version (GUIDE.md, "Scale"). An experimental flag
# can go in any release, so a newer jaxlib runs without it until someone checks it there
# and moves LAST.
YNN_OFF_FIRST = (0, 8, 1)
YNN_OFF_LAST = (0, 11, 2)


def knows_ynn_flag(jaxlib_version: str | None) -> bool:
    """Whether a jaxlib of this version is known to take YNN_OFF: a final release (no
    dev or rc build) from YNN_OFF_FIRST to YNN_OFF_LAST. False for anything unparseable."""
    if not jaxlib_version:
        return False
    try:
        version = Version(jaxlib_version)
    except InvalidVersion:
        return False
    release = (*version.release, 0, 0)[:3]
    return not version.is_prerelease and YNN_OFF_FIRST <= release <= YNN_OFF_LAST


def installed_jaxlib() -> str | None:
    """The installed jaxlib's version, read from its metadata without importing it."""
    try:
        return metadata.version("jaxlib")
    except metadata.PackageNotFoundError:
        return None


def default_xla_flags(jaxlib_version: str | None) -> tuple[str, ...]:
    """The flags lookalike sets for a jaxlib of this version."""
    return (YNN_OFF,) if knows_ynn_flag(jaxlib_version) else ()


def add_default_xla_flags() -> None:
    """Adds default_xla_flags for the installed jaxlib (at import of lookalike.encoder)."""
    version = installed_jaxlib()
    flags = default_xla_flags(version)
    if not flags:
        logger.debug("jaxlib %s is not one %s was checked on; not setting it", version, YNN_OFF)
    add_xla_flags(*flags, warn_if_late=False)


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
