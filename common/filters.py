"""The filter: a plain data structure, its checks, and the one reference evaluator of it."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass

from lookalike.common.errors import InvalidArgument
from lookalike.common.labels import Payload, Value, check_key, check_label, check_value

INF = math.inf


@dataclass(frozen=True)
class Range:
    """Numbers between low and high; an exclusive bound leaves the bound itself out."""

    low: float = -INF
    high: float = INF
    low_exclusive: bool = False
    high_exclusive: bool = False

    def holds(self, number: float) -> bool:
        above = number > self.low if self.low_exclusive else number >= self.low
        below = number < self.high if self.high_exclusive else number <= self.high
        return above and below


@dataclass(frozen=True)
class Condition:
    """One test of attribute `key`: equals a value, a number in a range, or just exists.

    Exactly one of equals and range is set, or neither with exists=True.
    """

    key: str
    equals: Value | None = None
    range: Range | None = None
    exists: bool = False

    def holds(self, attributes: dict[str, Value] | object) -> bool:
        value = attributes.get(self.key)  # type: ignore[attr-defined]
        if value is None:
            return False
        if self.equals is not None:
            return type(value) is type(self.equals) and value == self.equals
        if self.range is not None:
            return isinstance(value, float) and self.range.holds(value)
        return True


@dataclass(frozen=True)
class Filter:
    """Which images a call is about: every condition given must hold (AND).

    Labels: any_of (at least one), all_of (every one), none_of (none). Attribute conditions
    all hold. path_prefix: the stored path starts with it. clusters: the image is in one.
    Hashable, so that a store can cache what a filter matches; build it with Filter.checked.
    """

    any_of: frozenset[str] = frozenset()
    all_of: frozenset[str] = frozenset()
    none_of: frozenset[str] = frozenset()
    conditions: tuple[Condition, ...] = ()
    path_prefix: str = ""
    clusters: frozenset[int] | None = None  # None: any cluster; empty is refused

    @property
    def everything(self) -> bool:
        """True when it matches every image (nothing is tested)."""
        return self == EVERYTHING

    def digest(self) -> bytes:
        """A stable 16-byte fingerprint, to bind a page token to this filter."""
        return hashlib.sha256(repr(canonical(self)).encode()).digest()[:16]

    @classmethod
    def checked(cls, any_of: Iterable[object] = (), all_of: Iterable[object] = (),
                none_of: Iterable[object] = (), conditions: Iterable[Condition] = (),
                path_prefix: str = "", clusters: Iterable[int] | None = None) -> Filter:
        """A checked filter (labels stripped).

        Raises:
            InvalidArgument: a bad label, key or value; a condition with no test or two; a
                range whose low is above its high; a label in all_of (or the only one of
                any_of) and in none_of; an empty or negative clusters set.
        """
        def labels(given: Iterable[object], name: str) -> frozenset[str]:
            return frozenset(check_label(x, f"filter.{name}[{i}]") for i, x in enumerate(given))

        anys, alls, nones = labels(any_of, "any_of"), labels(all_of, "all_of"), labels(
            none_of, "none_of")
        if alls & nones:
            raise InvalidArgument(f"filter: label {sorted(alls & nones)[0]!r} is in both all_of "
                                  "and none_of, so nothing can match")
        if anys and anys <= nones:
            raise InvalidArgument("filter: every any_of label is also in none_of, so nothing "
                                  "can match")
        conds = tuple(check_condition(c, f"filter.conditions[{i}]")
                      for i, c in enumerate(conditions))
        if not isinstance(path_prefix, str):
            raise InvalidArgument("filter.path_prefix must be text")
        chosen = None
        if clusters is not None:
            chosen = frozenset(int(c) for c in clusters)
            if not chosen or min(chosen) < 0:
                raise InvalidArgument("filter.clusters must name at least one cluster, each 0 "
                                      "or more")
        return cls(anys, alls, nones, conds, path_prefix, chosen)


EVERYTHING = Filter()


def check_condition(cond: Condition, what: str) -> Condition:
    key = check_key(cond.key, f"{what}.key")
    tests = (cond.equals is not None) + (cond.range is not None) + bool(cond.exists)
    if tests != 1:
        raise InvalidArgument(f"{what} ({key}) must set exactly one test: equals, range or "
                              f"exists; it sets {tests}")
    if cond.equals is not None:
        return Condition(key, equals=check_value(cond.equals, f"{what}.equals"))
    if cond.range is not None:
        r = cond.range
        for bound, name in ((r.low, "min"), (r.high, "max")):
            if math.isnan(bound):
                raise InvalidArgument(f"{what} ({key}) range {name} is NaN")
        if r.low > r.high or (r.low == r.high and (r.low_exclusive or r.high_exclusive)):
            raise InvalidArgument(f"{what} ({key}) range is empty: min {r.low} is above max "
                                  f"{r.high} (or equal with an exclusive bound)")
        return Condition(key, range=Range(float(r.low), float(r.high), r.low_exclusive,
                                          r.high_exclusive))
    return Condition(key, exists=True)


def canonical(f: Filter) -> tuple:
    """The filter as nested sorted tuples: equal filters, equal canonical forms."""
    conds = sorted((c.key, repr(c.equals), repr(c.range), c.exists) for c in f.conditions)
    return (sorted(f.any_of), sorted(f.all_of), sorted(f.none_of), conds, f.path_prefix,
            sorted(f.clusters) if f.clusters is not None else None)


def matches(f: Filter, payload: Payload, path: str, cluster: int) -> bool:
    """Whether one image (its payload, stored path and cluster) passes the filter.

    The reference semantics: the local store's set algebra and the Milvus expression are
    tested against it.
    """
    labels = payload.labels
    if f.any_of and not f.any_of & labels:
        return False
    if not f.all_of <= labels or f.none_of & labels:
        return False
    if f.clusters is not None and cluster not in f.clusters:
        return False
    if not path.startswith(f.path_prefix):
        return False
    return all(c.holds(payload.attributes) for c in f.conditions)
