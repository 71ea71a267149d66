"""The in-memory inverted index of labels and attributes: which rows a filter matches.

Built from SQLite at load and kept current by the same writes and change-log entries that
keep the Faiss indexes current, so a filter is answered from memory, as set algebra over
sorted row-number arrays, and its cardinality is known before any vector is scanned.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping

import numpy as np

from lookalike.common.filters import Condition, Filter
from lookalike.common.labels import EMPTY, Payload, Value

_NONE = np.empty(0, np.int64)
CACHED = 32  # filters whose matches are kept, until the next change


class PayloadIndex:
    """Label -> rows and (key, value) -> rows, plus every row's payload.

    Not thread-safe by itself: the Collection changes it under the same locks as its
    ClusterIndexes, and select() under its read lock.
    """

    def __init__(self, payloads: Mapping[int, Payload] | None = None) -> None:
        self.by_row: dict[int, Payload] = {}
        self.labels: dict[str, set[int]] = {}
        self.keys: dict[str, dict[int, Value]] = {}
        self._arrays: dict[tuple, np.ndarray] = {}
        self._matches: OrderedDict[Filter, np.ndarray] = OrderedDict()
        if payloads:
            self.set(payloads)

    def payload(self, rowid: int) -> Payload:
        return self.by_row.get(rowid, EMPTY)

    def set(self, payloads: Mapping[int, Payload]) -> None:
        """Replaces the payloads of the given rows (an empty one removes the row's)."""
        for rowid, new in payloads.items():
            self._drop(rowid)
            if new.empty:
                continue
            self.by_row[rowid] = new
            for label in new.labels:
                self.labels.setdefault(label, set()).add(rowid)
                self._arrays.pop(("label", label), None)
            for key, value in new.attributes.items():
                self.keys.setdefault(key, {})[rowid] = value
                self._arrays.pop(("key", key), None)
        self._matches.clear()

    def remove(self, rowids: Iterable[int]) -> None:
        for rowid in rowids:
            self._drop(int(rowid))
        self._matches.clear()

    def changed(self) -> None:
        """Rows were added, deleted or moved: cached matches may name them."""
        self._matches.clear()

    def _drop(self, rowid: int) -> None:
        old = self.by_row.pop(rowid, None)
        if old is None:
            return
        for label in old.labels:
            self.labels[label].discard(rowid)
            self._arrays.pop(("label", label), None)
            if not self.labels[label]:
                del self.labels[label]
        for key in old.attributes:
            self.keys[key].pop(rowid, None)
            self._arrays.pop(("key", key), None)
            if not self.keys[key]:
                del self.keys[key]

    def label_rows(self, label: str) -> np.ndarray:
        """Sorted row numbers carrying label."""
        got = self._arrays.get(("label", label))
        if got is None:
            got = np.sort(np.fromiter(self.labels.get(label, ()), np.int64))
            self._arrays[("label", label)] = got
        return got

    def _key_arrays(self, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(sorted rows having key, their numbers (NaN for text), their texts (None for
        numbers))."""
        got = self._arrays.get(("key", key))
        if got is None:
            values = self.keys.get(key, {})
            rows = np.sort(np.fromiter(values, np.int64, len(values)))
            got = np.empty(3, object)
            got[0] = rows
            got[1] = np.array([v if isinstance(v, float) else np.nan
                               for v in map(values.__getitem__, rows.tolist())], np.float64)
            got[2] = np.array([v if isinstance(v, str) else None
                               for v in map(values.__getitem__, rows.tolist())], object)
            self._arrays[("key", key)] = got
        return got[0], got[1], got[2]

    def condition_rows(self, cond: Condition) -> np.ndarray:
        rows, numbers, texts = self._key_arrays(cond.key)
        if cond.exists:
            return rows
        if isinstance(cond.equals, str):
            return rows[texts == cond.equals]
        if cond.equals is not None:
            return rows[numbers == cond.equals]
        r = cond.range
        assert r is not None
        with np.errstate(invalid="ignore"):
            low = numbers > r.low if r.low_exclusive else numbers >= r.low
            high = numbers < r.high if r.high_exclusive else numbers <= r.high
        return rows[low & high]

    def select(self, f: Filter, universe: Callable[[], np.ndarray],
               paths: Callable[[str], np.ndarray],
               clusters: Callable[[frozenset[int]], np.ndarray]) -> np.ndarray:
        """Sorted row numbers that f matches, cached until the next change.

        universe: every stored row; paths(prefix): rows whose path starts with it;
        clusters(set): rows in those clusters. The positive conditions are intersected
        smallest first; universe is only read when nothing positive narrows the set.
        """
        got = self._matches.get(f)
        if got is not None:
            self._matches.move_to_end(f)
            return got
        parts: list[Callable[[], np.ndarray]] = [self.label_rows(x).__array__
                                                 for x in sorted(f.all_of)]
        if f.any_of:
            parts.append(lambda: _union([self.label_rows(x) for x in f.any_of]))
        parts += [(lambda c=c: self.condition_rows(c)) for c in f.conditions]
        if f.clusters is not None:
            parts.append(lambda: clusters(f.clusters))  # type: ignore[arg-type]
        if f.path_prefix:
            parts.append(lambda: paths(f.path_prefix))
        sets = sorted((p() for p in parts), key=len) or [universe()]
        got = sets[0]
        for other in sets[1:]:
            if not len(got):
                break
            got = np.intersect1d(got, other, assume_unique=True)
        if f.none_of and len(got):
            got = np.setdiff1d(got, _union([self.label_rows(x) for x in f.none_of]),
                               assume_unique=True)
        self._matches[f] = got
        if len(self._matches) > CACHED:
            self._matches.popitem(last=False)
        return got

    def counts(self) -> dict[str, int]:
        return {label: len(rows) for label, rows in self.labels.items()}


def _union(arrays: list[np.ndarray]) -> np.ndarray:
    if not arrays:
        return _NONE
    return np.unique(np.concatenate(arrays)) if len(arrays) > 1 else arrays[0]
