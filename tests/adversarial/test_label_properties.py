"""Property-based: random labels, attributes and filters through add, update, delete, count,
browse, get and filtered search, each compared with a plain Python model of the same data.

The model is a dict of row number -> (id, path, labels, attributes) and filters.matches, the
one reference evaluator. A refused change must leave the model (and the collection) as it
was. Filtered search is checked against an exact brute-force top-k over the matching rows.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from benchmarks.testbed import blob_vectors, make_collection
from lookalike.common.errors import InvalidArgument
from lookalike.common.filters import Condition, Filter, Range, matches
from lookalike.common.labels import EMPTY, Change, Payload, check_payload
from lookalike.indexer.interface import Target
from tests.adversarial.test_store_properties import FAST
from tests.conftest import session_model

LABELS = st.sampled_from(["cat", "dog", " cat ", "ünï", "a" * 64, "x y"])
BAD_LABELS = st.sampled_from(["", "   ", "a" * 65, "tab\there", "nul\0", "\ud800"])
KEYS = st.sampled_from(["price", "source", "n.1", "k-2"])
VALUES = st.one_of(st.sampled_from(["a", "b", "c"]),
                   st.integers(-3, 3).map(float), st.floats(-5, 5, allow_nan=False))
BAD_VALUES = st.sampled_from([math.nan, math.inf, -math.inf, "v" * 1025, True])
RANGES = st.builds(lambda lo, hi, a, b: Range(min(lo, hi), max(lo, hi), a and lo != hi,
                                              b and lo != hi),
                   st.integers(-4, 4).map(float), st.integers(-4, 4).map(float),
                   st.booleans(), st.booleans())
CONDITIONS = st.one_of(st.builds(lambda k, v: Condition(k, equals=v), KEYS, VALUES),
                       st.builds(lambda k, r: Condition(k, range=r), KEYS, RANGES),
                       st.builds(lambda k: Condition(k, exists=True), KEYS))


@st.composite
def filters(draw: st.DrawFn) -> Filter:
    while True:
        try:
            return Filter.checked(
                draw(st.lists(LABELS, max_size=2)), draw(st.lists(LABELS, max_size=2)),
                draw(st.lists(LABELS, max_size=2)), draw(st.lists(CONDITIONS, max_size=2)),
                draw(st.sampled_from(["", "/img/1", "/img/", "/other"])),
                draw(st.one_of(st.none(), st.sets(st.integers(0, 4), min_size=1, max_size=2))))
        except InvalidArgument:
            continue  # a contradiction: drawn again (contradictions have their own tests)


PAYLOADS = st.builds(lambda labels, attrs: (labels, list(attrs.items())),
                     st.lists(LABELS, max_size=4), st.dictionaries(KEYS, VALUES, max_size=3))
CHANGES = st.builds(lambda add, rm, sets, clear: (add, rm, list(sets.items()), clear),
                    st.lists(LABELS, max_size=2), st.lists(LABELS, max_size=2),
                    st.dictionaries(KEYS, VALUES, max_size=2), st.lists(KEYS, max_size=1))


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return session_model(tmp_path_factory)


def test_labels_filters_against_a_model(tiny_model: Path) -> None:
    class Labels(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.tmp = tempfile.mkdtemp(prefix="labels-")
            self.vectors = blob_vectors(n=60, centres=4)
            self.c = make_collection(Path(self.tmp) / "c", tiny_model, self.vectors, k=4,
                                     nprobe=1)
            self.model = {r.rowid: [r.id, r.path, EMPTY] for r in self.c.rows()}
            self.stored = dict(zip((r.rowid for r in self.c.rows()), self.vectors, strict=True))
            self.rng = np.random.default_rng(0)

        def teardown(self) -> None:
            self.c.close()
            shutil.rmtree(self.tmp)

        def cluster_of(self) -> dict[int, int]:
            return {r.rowid: r.cluster for r in self.c.rows()}

        def expected(self, f: Filter) -> list[int]:
            where = self.cluster_of()
            return sorted(r for r, (_, path, p) in self.model.items()
                          if matches(f, p, path, where[r]))

        @rule(given=st.lists(st.one_of(PAYLOADS, st.tuples(st.lists(BAD_LABELS, min_size=1),
                                                         st.just([])),
                                       st.tuples(st.just([]), st.lists(
                                           st.tuples(KEYS, BAD_VALUES), min_size=1))),
                             min_size=1, max_size=3))
        def add(self, given: list) -> None:
            try:
                payloads = [check_payload(labels, attrs, f"row {i}: ")
                            for i, (labels, attrs) in enumerate(given)]
            except InvalidArgument as exc:
                assert "row " in str(exc)
                return
            vectors = self.rng.normal(size=(len(given), 16)).astype(np.float32) * 4
            rows = self.c.add(vectors, [f"/img/{len(self.model)}-{i}" for i in range(len(given))],
                              [None] * len(given), payloads)
            for row, payload, vector in zip(rows, payloads, vectors, strict=True):
                self.model[row.rowid] = [row.id, row.path, payload]
                self.stored[row.rowid] = vector

        @rule(change=CHANGES, how=st.sampled_from(["ids", "cluster", "filter"]),
              f=filters(), pick=st.integers(0, 10**6))
        def update(self, change: tuple, how: str, f: Filter, pick: int) -> None:
            try:
                checked = Change.checked(*change)
            except InvalidArgument:
                return
            rows = sorted(self.model)
            if how == "ids":
                chosen = rows[pick % len(rows) :: 7] if rows else []
                target = Target(ids=tuple(self.model[r][0] for r in chosen) + ("nope",))
            elif how == "cluster":
                target = Target(cluster=pick % 4)
                where = self.cluster_of()
                chosen = [r for r in rows if where[r] == pick % 4]
            else:
                target, chosen = Target(filter=f), self.expected(f)
            done = self.c.update(target, checked)
            assert done.updated == len(chosen)
            assert done.missing == (["nope"] if how == "ids" else [])
            for r in chosen:
                self.model[r][2] = checked.apply(self.model[r][2])

        @rule(pick=st.integers(0, 10**6))
        def delete(self, pick: int) -> None:
            if self.model:
                rowid = sorted(self.model)[pick % len(self.model)]
                self.c.delete([self.model.pop(rowid)[0]])
                self.stored.pop(rowid)

        @rule(f=filters(), size=st.integers(1, 7))
        def count_and_browse(self, f: Filter, size: int) -> None:
            want = self.expected(f)
            assert self.c.count(f) == len(want)
            got, token = [], ""
            while True:
                page = self.c.browse(f, size, token)
                got += [i.row.rowid for i in page.items]
                for item in page.items:
                    assert item.payload == _norm(self.model[item.row.rowid][2])
                token = page.next_token
                if not token:
                    break
            assert got == want

        @rule(f=filters(), k=st.integers(1, 8))
        def filtered_search(self, f: Filter, k: int) -> None:
            query = self.rng.normal(size=(1, 16)).astype(np.float32) * 4
            hits = self.c.search(query, k, nprobe=4, filter=f)  # nprobe covers every cluster
            want = self.expected(f)
            found = [int(r) for r in hits.rowids[0] if r >= 0]
            assert set(found) <= set(want)
            assert len(found) == min(k, len(want))
            if want:
                exact = ((np.stack([self.stored[r] for r in want]) - query) ** 2).sum(1)
                kth = np.sort(exact)[len(found) - 1]
                assert np.allclose(hits.distances[0, : len(found)], np.sort(exact)[: len(found)],
                                   rtol=1e-4, atol=1e-3), (found, kth)
            # The default nprobe may scan less, never a row that does not match.
            narrow = self.c.search(query, k, filter=f)
            assert {int(r) for r in narrow.rowids[0] if r >= 0} <= set(want)

        @invariant()
        def payloads_match(self) -> None:
            items, missing = self.c.get([v[0] for v in self.model.values()])
            assert not missing
            for item in items:
                assert item.payload == _norm(self.model[item.row.rowid][2])
            counts: dict[str, int] = {}
            for _, _, p in self.model.values():
                for label in p.labels:
                    counts[label] = counts.get(label, 0) + 1
            assert self.c.label_counts() == counts

    run_state_machine_as_test(Labels, settings=FAST)


def _norm(p: Payload) -> Payload:
    """Payloads compare by labels and attribute values (mappings of either kind)."""
    return Payload(p.labels, dict(p.attributes))


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
