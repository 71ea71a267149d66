"""What a collection's search returns, and the one check of its k and nprobe."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

import numpy as np

from lookalike.common.errors import InvalidArgument

NO_ROWS: Mapping[int, Row] = MappingProxyType({})


class Row(NamedTuple):
    """One stored image: its row number (never reused), id, stored path and cluster."""

    rowid: int
    id: str
    path: str
    cluster: int


class Hits(NamedTuple):
    """Search results for n queries, nearest first, and the rows they name.

    distances: (n, k) float32 squared L2 distances; inf past the last hit.
    rowids: (n, k) int64 row numbers; -1 past the last hit (padding is only ever at the end).
    clusters: (n,) int64, each query's nearest cluster.
    rows: the Row of every row number in rowids, read in the same view as the scan: a hit
        never names a row that is gone, and rows names nothing else.
    """

    distances: np.ndarray
    rowids: np.ndarray
    clusters: np.ndarray
    rows: Mapping[int, Row] = NO_ROWS


def check_search(k: int, nprobe: int | None, max_k: int | None = None) -> None:
    """The one check of a search's k and nprobe (nprobe 0 or None: the default).

    Raises:
        InvalidArgument: k below 1 or above max_k, or nprobe below 0.
    """
    if k < 1:
        raise InvalidArgument(f"k must be at least 1, got {k}")
    if max_k is not None and k > max_k:
        raise InvalidArgument(f"k must be at most {max_k}, got {k}")
    if nprobe is not None and nprobe < 0:
        raise InvalidArgument(f"nprobe must be 0 (the default) or more, got {nprobe}")
