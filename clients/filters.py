"""The SDK's filter: which images a search, browse, count or update is about."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Equals:
    """Attribute `key` holds `value` (text equals text, a number equals a number)."""

    key: str
    value: str | float


@dataclass(frozen=True)
class Range:
    """Attribute `key` is a number between min and max (None: that side is open)."""

    key: str
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    max_exclusive: bool = False


@dataclass(frozen=True)
class Exists:
    """The image has attribute `key`, of either type."""

    key: str


@dataclass(frozen=True)
class Filter:
    """Every condition given must hold; Filter() matches every image.

    Example:
        Filter(any_labels=["cat", "kitten"], none_labels=["blurry"],
               attributes=[Equals("source", "catalogue-2024"), Range("price", max=20)],
               path_prefix="/photos/", clusters=[3, 4])

    Checked before anything is sent, with the server's own limits (lookalike.common.labels):
    a bad label or key, a NaN bound, or a filter that contradicts itself (a label both
    required and excluded, min above max) is InvalidArgument.
    """

    any_labels: Sequence[str] = ()  # at least one of these
    all_labels: Sequence[str] = ()  # every one of these
    none_labels: Sequence[str] = ()  # none of these
    attributes: Sequence[Equals | Range | Exists] = ()  # every one holds
    path_prefix: str = ""  # the stored path starts with this
    clusters: Sequence[int] | None = None  # in one of these clusters (None: any)
