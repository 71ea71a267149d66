"""Property-based: the label state machine (label_machine.py: random labels, attributes,
filters and batches through add, update, update_many, delete, count, browse, get and
filtered search, compared with a plain Python model) on the local store, and the exact plan
of a filtered search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.testbed import blob_vectors, make_collection
from lookalike.common.filters import Filter
from lookalike.common.labels import Change
from lookalike.indexer.interface import Target
from tests.adversarial.label_machine import StoreKind, run_label_machine
from tests.adversarial.test_store_properties import FAST
from tests.conftest import session_model


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return session_model(tmp_path_factory)


def test_labels_filters_against_a_model(tiny_model: Path) -> None:
    def make(folder: Path, vectors: np.ndarray):
        c = make_collection(folder, tiny_model, vectors, k=4, nprobe=1)
        return c, {r.id: v for r, v in zip(c.rows(), vectors, strict=True)}  # row order

    run_label_machine(StoreKind(make, by_id=False), FAST)


def test_a_filtered_search_is_the_exact_top_k_over_matches(tiny_model: Path,
                                                           tmp_path: Path) -> None:
    """A rare label spread over every cluster still answers its k nearest (the exact plan),
    and a common one answers a full k at the default nprobe."""
    vectors = blob_vectors(n=800)
    c = make_collection(tmp_path / "c", tiny_model, vectors, nprobe=1)
    rows = c.rows()
    rare = [r.id for r in rows[::97]]  # 9 rows, in most clusters
    c.update(Target(ids=tuple(rare)), Change.checked(add_labels=["rare"]))
    c.update(Target(ids=tuple(r.id for r in rows[::2])), Change.checked(add_labels=["half"]))
    queries = vectors[:20]
    for label, k in (("rare", 5), ("rare", 20), ("half", 10)):
        want = np.array([r.rowid for r in c.rows() if (label == "rare" and r.id in rare)
                         or (label == "half" and r.rowid % 2 == 1)])
        hits = c.search(queries, k, filter=Filter.checked(all_of=[label]))
        stored = dict(zip((r.rowid for r in rows), vectors, strict=True))
        for q, found in zip(queries, hits.rowids, strict=True):
            found = found[found >= 0]
            assert len(found) == min(k, len(want))
            assert set(found.tolist()) <= set(want.tolist())
            if label == "rare":
                exact = want[np.argsort(((np.stack([stored[r] for r in want]) - q) ** 2).sum(1),
                                        kind="stable")][:k]
                assert set(found.tolist()) == set(exact.tolist())
    c.close()
