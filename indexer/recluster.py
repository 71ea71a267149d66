"""What a recluster is asked for and what it reports, whatever store the collection lives in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from lookalike.common import recipe


@dataclass(frozen=True)
class ReclusterConfig:
    clusters: int | None = None  # None: keep the current number; 0: choose by silhouette
    seed: int = 0
    target_recall: float = recipe.TARGET_RECALL
    # Recompute the 2-D map afterwards (a new version). False: the old map stays, its points
    # taking their new clusters, until `lookalike map DIR` (a big collection's recluster is
    # shorter without it).
    map: bool = recipe.MAP_AT_RECLUSTER


class NameMove(NamedTuple):
    """A cluster name and where a recluster took it: from cluster old to new (-1: dropped)."""

    name: str
    old: int
    new: int


@dataclass(frozen=True)
class ReclusterReport:
    images: int
    clusters_before: int
    clusters_after: int
    imbalance_before: float
    imbalance_after: float
    default_nprobe: int
    seconds: float
    names_moved: tuple[NameMove, ...] = ()  # see carry_names
    names_dropped: tuple[NameMove, ...] = ()


def carry_names(names: dict[int, str], old: np.ndarray, new: np.ndarray,
                ) -> tuple[dict[int, str], tuple[NameMove, ...], tuple[NameMove, ...]]:
    """Where cluster names go when every image moves from cluster old[i] to new[i].

    The rule: old cluster c's name moves to the new cluster that took most of c's members,
    provided that new cluster took more than half of them (c still exists in the same
    sense) and no other named old cluster gave it more members (ties: the lower old number
    wins). Otherwise the name is dropped. Returns (new names, moved, dropped); a dropped
    entry's `new` is -1.
    """
    old, new = np.asarray(old, np.int64), np.asarray(new, np.int64)
    best: dict[int, tuple[int, int]] = {}  # new cluster -> (members given, old cluster)
    wanted: dict[int, int] = {}
    for c in sorted(names):
        took = new[old == c]
        if not len(took):
            continue
        values, counts = np.unique(took, return_counts=True)
        top = int(np.argmax(counts))  # ties: the lowest new number (np.unique sorts)
        if 2 * counts[top] <= len(took):
            continue
        target, given = int(values[top]), int(counts[top])
        wanted[c] = target
        if target not in best or given > best[target][0]:
            best[target] = (given, c)
    carried = {target: names[c] for target, (_, c) in best.items()}
    winners = {c for _, c in best.values()}
    moved = tuple(NameMove(names[c], c, wanted[c]) for c in sorted(winners))
    dropped = tuple(NameMove(names[c], c, -1) for c in sorted(names) if c not in winners)
    return carried, moved, dropped
