"""Choosing the duplicate threshold from measured distances, and the presets."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lookalike.common.errors import InvalidArgument
from lookalike.indexer.calibration import Calibration, choose, resolve, valid_value


def test_a_clean_gap_puts_the_threshold_in_it():
    got = choose(np.array([0.01, 0.02, 0.05]), np.array([0.3, 0.4, 0.5]))
    assert 0.05 < got.threshold < 0.3
    assert got.strict <= got.threshold <= got.loose


def test_overlap_keeps_strict_below_the_nearest_others_and_loose_above_most_copies():
    rng = np.random.default_rng(0)
    copies, others = rng.uniform(0, 0.2, 1000), rng.uniform(0.1, 1.0, 100)
    got = choose(copies, others)
    assert (others <= got.strict).mean() <= 0.01
    assert (copies <= got.loose).mean() >= 0.95
    assert got.strict <= got.threshold <= got.loose


def test_settings_round_trip_and_are_checked():
    calibration = Calibration(0.1, 0.05, 0.2)
    stored = calibration.to_settings()
    assert Calibration.from_settings(stored) == calibration
    assert Calibration.from_settings({}) is None
    assert all(valid_value(v) for v in stored.values())
    assert not any(valid_value(v) for v in ("nan", "-1", "inf", "x", ""))


def test_presets_and_overrides():
    calibration = Calibration(0.1, 0.05, 0.2)
    assert resolve(calibration) == 0.1
    assert resolve(calibration, preset="strict") == 0.05
    assert resolve(calibration, preset="loose") == 0.2
    assert resolve(None, threshold=0.3) == 0.3
    with pytest.raises(InvalidArgument, match="--threshold"):
        resolve(None)
    with pytest.raises(InvalidArgument, match="preset"):
        resolve(calibration, preset="medium")


def test_no_distances_is_refused():
    with pytest.raises(InvalidArgument):
        choose(np.array([]), np.array([1.0]))
    assert math.isfinite(choose(np.array([0.0]), np.array([0.0])).threshold)
