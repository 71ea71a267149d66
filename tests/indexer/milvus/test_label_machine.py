"""The core's label state machine (tests/adversarial/test_label_properties.py) against the
real Milvus server: random adds, updates, deletes, counts, browses and filtered searches,
each compared with a plain model keyed by id (Milvus has no row numbers). Fewer examples
than locally: each one creates a Milvus collection."""

from __future__ import annotations

import itertools
import shutil
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from benchmarks.testbed import blob_vectors, milvus_vectors_folder
from lookalike.common.errors import InvalidArgument
from lookalike.common.filters import Filter, matches
from lookalike.common.labels import EMPTY, Change, Payload, check_payload
from lookalike.indexer.interface import Target
from lookalike.indexer.opener import open_collection
from tests.adversarial.test_label_properties import CHANGES, PAYLOADS, filters

_names = itertools.count()
MILVUS = settings(max_examples=5, stateful_step_count=12, deadline=None)


def test_labels_filters_against_a_model_in_milvus(model_dir: Path, milvus_uri: str) -> None:
    class Labels(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.tmp = tempfile.mkdtemp(prefix="labels-milvus-")
            vectors = blob_vectors(n=40, centres=4)
            folder = milvus_vectors_folder(Path(self.tmp) / "c", model_dir,
                                           f"milvus://{milvus_uri}/machine{next(_names)}",
                                           vectors, k=4, nprobe=1)
            self.c = open_collection(folder)
            self.model = {r.id: [r.path, EMPTY] for r in self.c.rows()}
            self.stored = {r.id: v for r, v in zip(sorted(self.c.rows(), key=lambda r: r.id),
                                                   vectors, strict=True)}
            self.rng = np.random.default_rng(0)

        def teardown(self) -> None:
            self.c.close()
            shutil.rmtree(self.tmp)

        def expected(self, f: Filter) -> list[str]:
            where = {r.id: r.cluster for r in self.c.rows()}
            return sorted(i for i, (path, p) in self.model.items()
                          if matches(f, p, path, where[i]))

        @rule(given=st.lists(PAYLOADS, min_size=1, max_size=3))
        def add(self, given: list) -> None:
            payloads = [check_payload(labels, attrs) for labels, attrs in given]
            vectors = self.rng.normal(size=(len(given), 16)).astype(np.float32) * 4
            rows = self.c.add(vectors, [f"/img/n{len(self.model)}-{i}" for i in range(len(given))],
                              [None] * len(given), payloads)
            for row, payload, vector in zip(rows, payloads, vectors, strict=True):
                self.model[row.id] = [row.path, payload]
                self.stored[row.id] = vector

        @rule(change=CHANGES, how=st.sampled_from(["ids", "cluster", "filter"]),
              f=filters(), pick=st.integers(0, 10**6))
        def update(self, change: tuple, how: str, f: Filter, pick: int) -> None:
            try:
                checked = Change.checked(*change)
            except InvalidArgument:
                return
            ids = sorted(self.model)
            if how == "ids":
                chosen = ids[pick % len(ids) :: 7] if ids else []
                target = Target(ids=(*chosen, "nope"))
            elif how == "cluster":
                target = Target(cluster=pick % 4)
                chosen = [r.id for r in self.c.rows() if r.cluster == pick % 4]
            else:
                target, chosen = Target(filter=f), self.expected(f)
            done = self.c.update(target, checked)
            assert done.updated == len(chosen)
            for i in chosen:
                self.model[i][1] = checked.apply(self.model[i][1])

        @rule(pick=st.integers(0, 10**6))
        def delete(self, pick: int) -> None:
            if self.model:
                gone = sorted(self.model)[pick % len(self.model)]
                self.c.delete([gone])
                del self.model[gone], self.stored[gone]

        @rule(f=filters(), size=st.integers(1, 7))
        def count_and_browse(self, f: Filter, size: int) -> None:
            want = self.expected(f)
            assert self.c.count(f) == len(want)
            got, token = [], ""
            while True:
                page = self.c.browse(f, size, token)
                got += [i.row.id for i in page.items]
                for item in page.items:
                    assert item.payload == _norm(self.model[item.row.id][1])
                token = page.next_token
                if not token:
                    break
            assert got == want  # id order

        @rule(f=filters(), k=st.integers(1, 8))
        def filtered_search(self, f: Filter, k: int) -> None:
            query = self.rng.normal(size=(1, 16)).astype(np.float32) * 4
            want = self.expected(f)
            for nprobe in (None, 4):  # the default (1) widens itself when short
                hits = self.c.search(query, k, nprobe=nprobe, filter=f)
                found = [hits.rows[r].id for r in hits.rowids[0] if r >= 0]
                assert set(found) <= set(want) and len(found) == min(k, len(want))
            if want:
                exact = np.sort(((np.stack([self.stored[i] for i in want]) - query) ** 2
                                 ).sum(1))[: len(found)]
                assert np.allclose(hits.distances[0, : len(found)], exact, rtol=1e-4,
                                   atol=1e-3)

        @invariant()
        def payloads_match(self) -> None:
            items, missing = self.c.get(list(self.model))
            assert not missing
            for item in items:
                assert item.payload == _norm(self.model[item.row.id][1])
            counts: dict[str, int] = {}
            for _, p in self.model.values():
                for label in p.labels:
                    counts[label] = counts.get(label, 0) + 1
            assert self.c.label_counts() == counts

    run_state_machine_as_test(Labels, settings=MILVUS)


def _norm(p: Payload) -> Payload:
    return Payload(p.labels, dict(p.attributes))
