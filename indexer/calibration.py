"""The duplicate threshold a collection stores: chosen from measured distances, with presets."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from lookalike.common.errors import InvalidArgument

# Setting keys (local store: the checksummed settings table, indexer/local/settings.py).
KEYS = ("duplicate_threshold", "duplicate_strict", "duplicate_loose")
STRICT_FALSE_RATE = 0.01  # strict: at most 1% of images have their nearest other within
LOOSE_RECALL = 0.95  # loose: at least 95% of edited copies are within


class Calibration(NamedTuple):
    """Squared-L2 thresholds: calibrated (the best separation), strict and loose."""

    threshold: float
    strict: float
    loose: float

    def to_settings(self) -> dict[str, str]:
        return dict(zip(KEYS, (repr(float(v)) for v in self), strict=True))

    @classmethod
    def from_settings(cls, settings: Mapping[str, str]) -> Calibration | None:
        """The stored calibration, None for a collection built before it."""
        if not all(k in settings for k in KEYS):
            return None
        return cls(*(float(settings[k]) for k in KEYS))


def valid_value(text: str) -> bool:
    """A stored threshold: a finite number, at least 0 (the settings' rule)."""
    try:
        value = float(text)
    except ValueError:
        return False
    return math.isfinite(value) and value >= 0


def choose(copies: np.ndarray, others: np.ndarray) -> Calibration:
    """Thresholds from distances of images to edited copies of themselves (copies) and to
    their nearest other image (others).

    threshold: the cut that best separates the two (Youden's J: the share of copies within
    minus the share of others within, largest), midway between the two measured distances
    it falls between. strict: the largest cut that lets at most STRICT_FALSE_RATE of others
    in; loose: the smallest that takes LOOSE_RECALL of copies; each at least as far from the
    calibrated threshold in its direction.
    """
    copies = np.sort(np.asarray(copies, np.float64))
    others = np.sort(np.asarray(others, np.float64))
    if not len(copies) or not len(others):
        raise InvalidArgument("calibration needs distances of copies and of other images")
    cuts = np.unique(np.concatenate([copies, others]))
    within_copies = np.searchsorted(copies, cuts, "right") / len(copies)
    within_others = np.searchsorted(others, cuts, "right") / len(others)
    best = int(np.argmax(within_copies - within_others))
    upper = cuts[best + 1] if best + 1 < len(cuts) else cuts[best] * 1.1
    threshold = (cuts[best] + upper) / 2
    false_cut = others[int(STRICT_FALSE_RATE * len(others))]  # the first other let in
    strict = min(threshold, float(np.nextafter(false_cut, -np.inf)))
    loose = max(threshold, copies[min(len(copies) - 1, math.ceil(LOOSE_RECALL * len(copies)) - 1)])
    return Calibration(float(threshold), float(max(strict, 0.0)), float(loose))


def resolve(calibration: Calibration | None, threshold: float | None = None,
            preset: str | None = None) -> float:
    """The threshold a duplicates run uses: the given one, else the preset's (None, "strict",
    "loose") from the collection's calibration.

    Raises:
        InvalidArgument: no threshold given and none calibrated, or an unknown preset.
    """
    if threshold is not None:
        return threshold
    if calibration is None:
        raise InvalidArgument("this collection has no calibrated duplicate threshold (it was "
                              "built before calibration): pass --threshold")
    if preset in (None, "calibrated"):
        return calibration.threshold
    if preset == "strict":
        return calibration.strict
    if preset == "loose":
        return calibration.loose
    raise InvalidArgument(f"no duplicate preset {preset!r}: strict or loose")
