"""What a recluster is asked for and what it reports, whatever store the collection lives in."""

from __future__ import annotations

from dataclasses import dataclass

from lookalike.common import recipe


@dataclass(frozen=True)
class ReclusterConfig:
    clusters: int | None = None  # None: keep the current number; 0: choose by silhouette
    seed: int = 0
    target_recall: float = recipe.TARGET_RECALL


@dataclass(frozen=True)
class ReclusterReport:
    images: int
    clusters_before: int
    clusters_after: int
    imbalance_before: float
    imbalance_after: float
    default_nprobe: int
    seconds: float
