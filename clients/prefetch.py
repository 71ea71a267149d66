"""One query row made ready to send: read, fetched and downsized, or its error."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from lookalike.clients import images
from lookalike.clients.images import prepare
from lookalike.common.errors import LookalikeError
from lookalike.common.fetch import FetchLimits

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prepared:
    """One input row made ready to send: its bytes, or the error that stopped it here."""

    row: int
    query: Any
    data: bytes | None = None
    error: LookalikeError | None = None


def downsized(location: str, size: int, limits: FetchLimits) -> images.Ready | str:
    """The bytes prepare() would send for location, marked so that the stream sends them
    as they are; or location itself when reading it failed: the stream then reads it again
    and reports the row's error as it always does. Module-level, so that worker processes
    can run it (clients/bulk.py)."""
    try:
        return images.Ready(prepare(location, size, limits))
    except (LookalikeError, OSError, ValueError):
        return location


def prepare_row(row: int, query: Any, size: int | None, limits: FetchLimits) -> Prepared:
    """Reads (or fetches) and optionally downsizes one query; never raises for bad input."""
    try:
        return Prepared(row, query, data=prepare(query, size, limits))
    except LookalikeError as exc:
        return Prepared(row, query, error=exc)
    except (OSError, ValueError) as exc:  # a read or decode failure Pillow raised raw
        return Prepared(row, query, error=LookalikeError(f"could not read {query!r}: {exc}"))
