"""The label state machine (tests/adversarial/label_machine.py) against the real Milvus
server: the same rules and model as on the local store, with fewer examples (each creates a
Milvus collection) to keep the run modest."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
from hypothesis import settings

from benchmarks.testbed import milvus_vectors_folder
from lookalike.indexer.opener import open_collection
from tests.adversarial.label_machine import StoreKind, run_label_machine

_names = itertools.count()
MILVUS = settings(max_examples=5, stateful_step_count=12, deadline=None)


def test_labels_filters_against_a_model_in_milvus(model_dir: Path, milvus_uri: str) -> None:
    def make(folder: Path, vectors: np.ndarray):
        made = milvus_vectors_folder(folder, model_dir,
                                     f"milvus://{milvus_uri}/machine{next(_names)}", vectors,
                                     k=4, nprobe=1)
        c = open_collection(made)
        rows = sorted(c.rows(), key=lambda r: r.id)  # ids id00000... in insertion order
        return c, {r.id: v for r, v in zip(rows, vectors, strict=True)}

    run_label_machine(StoreKind(make, by_id=True, vectors=40), MILVUS)
