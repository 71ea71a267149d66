"""What every store checks in a caller's vectors, ids and paths, and hits whose rows are gone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from lookalike.common.errors import InvalidArgument
from lookalike.common.paths import stored_path
from lookalike.indexer.ids import check_ids
from lookalike.indexer.interface import Row


def check_queries(queries: np.ndarray, dim: int) -> np.ndarray:
    """queries as contiguous float32 (n, dim); InvalidArgument for another shape."""
    queries = np.ascontiguousarray(queries, np.float32)
    if queries.ndim != 2 or queries.shape[1] != dim:
        raise InvalidArgument(
            f"query vectors must have {dim} values, got shape {queries.shape[1:]}")
    return queries


def check_add(vectors: np.ndarray, paths: Sequence[str], ids: Sequence[str | None],
              dim: int) -> tuple[np.ndarray, list[str]]:
    """What every store checks before an add: (float32 vectors, stored paths).

    Raises:
        InvalidArgument: another dimension, lengths that differ, or what check_rows refuses.
    """
    vectors = np.ascontiguousarray(vectors, np.float32)
    if vectors.ndim != 2 or vectors.shape[1] != dim:
        raise InvalidArgument(f"vectors must have {dim} values, got {vectors.shape}")
    if not len(vectors) == len(paths) == len(ids):
        raise InvalidArgument(
            f"got {len(vectors)} vectors, {len(paths)} paths and {len(ids)} ids")
    return vectors, check_rows(paths, ids)


def check_rows(paths: Sequence[str], ids: Sequence[str | None]) -> list[str]:
    """The paths in their stored form (see common/paths.py), once every id is valid.

    Raises:
        InvalidArgument: an id check_ids refuses, or a path no file name can have.
    """
    check_ids(ids)
    return [stored_path(p) for p in paths]


def drop_missing(distances: np.ndarray, rowids: np.ndarray,
                 rows: Mapping[int, Row]) -> tuple[np.ndarray, np.ndarray]:
    """Hits without those whose row is gone, order kept, padded at the end with inf / -1.

    A delete commits to SQLite before it takes its rows out of the indexes, so a scan in
    between can find a row that SQLite no longer has.
    """
    flat = rowids.ravel().tolist()
    if all(r in rows for r in flat if r >= 0):  # the usual case, and cheaper than np.isin
        return distances, rowids
    present = np.fromiter((r in rows for r in flat), bool, len(flat)).reshape(rowids.shape)
    order = np.argsort(~present, axis=1, kind="stable")  # present first, in their order
    distances = np.take_along_axis(distances, order, 1)
    rowids = np.take_along_axis(rowids, order, 1)
    gone = ~np.take_along_axis(present, order, 1)
    distances[gone], rowids[gone] = np.inf, -1
    return distances, rowids
