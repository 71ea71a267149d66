"""A least-recently-used cache bounded in bytes, safe across threads (thumbnails, both sides)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class ByteLru(Generic[V]):
    """Values by key; past max_bytes (each value costing cost(value)) the least recently used
    go first. A value dearer than the whole bound is not kept."""

    def __init__(self, max_bytes: int, cost: Callable[[V], int]) -> None:
        self.max_bytes = max_bytes
        self._cost = cost
        self._items: OrderedDict[Hashable, V] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            value = self._items.get(key)
            if value is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: Hashable, value: V) -> None:
        cost = self._cost(value)
        if cost > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= self._cost(old)
            self._items[key] = value
            self._bytes += cost
            while self._bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= self._cost(dropped)

    def __len__(self) -> int:
        return len(self._items)

    @property
    def bytes(self) -> int:
        return self._bytes
