"""benchmarks/pretrain_pairs.py: a run stopped and resumed ends where an unbroken one does."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import pretrain_pairs  # noqa: E402

from lookalike.encoder import checkpoint  # noqa: E402


def run_args(out: Path, **changes) -> argparse.Namespace:
    args = dict(out=str(out), init=str(pretrain_pairs.BASE), resume=False, epochs=1,
                every=1e9, batch_size=16, lr=5e-4, warmup=2, temperature=0.1, pair_weight=1.0,
                pair_share=0.5, seed=0, max_steps=0)
    return argparse.Namespace(**{**args, **changes})


@pytest.fixture(scope="module")
def corpus() -> tuple[np.ndarray, np.ndarray]:
    """48 images (3 steps of 16): 24 alone, 8 groups of 3."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (48, 64, 64, 3), dtype=np.uint8)
    groups = np.concatenate([np.full(24, -1), np.repeat(np.arange(8), 3)]).astype(np.int32)
    return images, groups


def test_a_resumed_run_ends_where_an_unbroken_one_does(tmp_path, corpus):
    if not (pretrain_pairs.BASE / checkpoint.CONFIG_FILE).exists():
        pytest.skip("no shipped base model")
    images, groups = corpus
    pretrain_pairs.pretrain(run_args(tmp_path / "unbroken"), images, groups, {})
    pretrain_pairs.pretrain(run_args(tmp_path / "broken", max_steps=2), images, groups, {})
    stopped = checkpoint.load(tmp_path / "broken" / "latest")
    assert stopped.meta["pretraining"]["step"] == 2
    pretrain_pairs.pretrain(run_args(tmp_path / "broken", resume=True), images, groups, {})
    unbroken = checkpoint.load(tmp_path / "unbroken" / "latest")
    resumed = checkpoint.load(tmp_path / "broken" / "latest")
    assert resumed.fingerprint == unbroken.fingerprint != stopped.fingerprint
    done = resumed.meta["pretraining"]
    assert done["step"] == 3 and done["epoch"] == 1 and done["views"] == 3 * 2 * 16
    assert done["cpu_s"] > stopped.meta["pretraining"]["cpu_s"]
    assert done["continued_from"]["fingerprint"] == checkpoint.load(pretrain_pairs.BASE).fingerprint
    assert (tmp_path / "broken" / "epoch_001" / checkpoint.CONFIG_FILE).exists()
