"""One label state machine for both stores: random adds, updates (ids, cluster, filter),
batches (update_many), deletes, counts, browses, gets and filtered searches, each compared
with a plain Python model keyed by id, and filters.matches, the one reference evaluator.

A refused change must leave the model (and the collection) as it was. Filtered search at an
nprobe that covers every cluster must be the exact top-k over the matching images; at the
default nprobe it must still answer only matches, and a full k whenever k match.

tests/adversarial/test_label_properties.py runs it on the local store;
tests/indexer/milvus/test_label_machine.py on the real Milvus server, with fewer examples
(each creates a Milvus collection).
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from lookalike.common.errors import InvalidArgument
from lookalike.common.filters import Condition, Filter, Range, matches
from lookalike.common.label_batch import Edit
from lookalike.common.labels import EMPTY, Change, Payload, check_payload
from lookalike.indexer.interface import Target

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
# A batch's edit: a relative change, or "exactly these" labels and/or attributes.
EDITS = st.one_of(CHANGES.map(lambda c: (*c, False, False)),
                  st.builds(lambda labels, attrs, a, b: (labels, [], list(attrs.items()) if b
                                                         else [], [], a, b),
                            st.lists(LABELS, max_size=3), st.dictionaries(KEYS, VALUES,
                                                                          max_size=2),
                            st.booleans(), st.booleans()))


@dataclass(frozen=True)
class StoreKind:
    """How to make one store's collection for the machine.

    make(folder, vectors) -> the open collection and its stored id -> vector;
    by_id: browse pages in id order (Milvus), not in the order images were added (local).
    """

    make: Callable[[Path, np.ndarray], tuple[Any, dict[str, np.ndarray]]]
    by_id: bool
    vectors: int = 60


def _norm(p: Payload) -> Payload:
    """Payloads compare by labels and attribute values (mappings of either kind)."""
    return Payload(p.labels, dict(p.attributes))


def run_label_machine(kind: StoreKind, run_settings: settings) -> None:
    class Labels(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.tmp = tempfile.mkdtemp(prefix="labels-")
            self.c, self.stored = kind.make(Path(self.tmp) / "c",
                                            _blobs(kind.vectors))
            self.model = {r.id: [r.path, EMPTY] for r in self.c.rows()}
            self.added = list(self.stored)  # ids in the order they were added
            self.rng = np.random.default_rng(0)

        def teardown(self) -> None:
            self.c.close()
            shutil.rmtree(self.tmp)

        def expected(self, f: Filter) -> list[str]:
            """The ids f matches, in browse order."""
            where = {r.id: r.cluster for r in self.c.rows()}
            hit = {i for i, (path, p) in self.model.items() if matches(f, p, path, where[i])}
            return sorted(hit) if kind.by_id else [i for i in self.added if i in hit]

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
            rows = self.c.add(vectors, [f"/img/n{len(self.model)}-{i}" for i in range(len(given))],
                              [None] * len(given), payloads)
            for row, payload, vector in zip(rows, payloads, vectors, strict=True):
                self.model[row.id] = [row.path, payload]
                self.stored[row.id] = vector
                self.added.append(row.id)

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
            assert done.missing == (["nope"] if how == "ids" else [])
            for i in chosen:
                self.model[i][1] = checked.apply(self.model[i][1])

        @rule(edits=st.lists(EDITS, min_size=1, max_size=4), pick=st.integers(0, 10**6),
              ghost=st.booleans(), dry=st.booleans())
        def update_many(self, edits: list, pick: int, ghost: bool, dry: bool) -> None:
            ids = sorted(self.model)
            if not ids:
                return
            chosen = list(dict.fromkeys(ids[(pick + 5 * n) % len(ids)]
                                        for n in range(len(edits))))
            try:
                batch = [Edit(i, Change.checked(*e))
                         for i, e in zip(chosen, edits[:len(chosen)], strict=True)]
            except InvalidArgument:
                return
            after = {}
            try:
                for e in batch:
                    after[e.id] = e.change.apply(self.model[e.id][1])
            except InvalidArgument:
                with_error = True
            else:
                with_error = False
            if ghost:
                batch.insert(len(batch) // 2, Edit("nope", Change.checked(add_labels=["x"])))
            try:
                done = self.c.update_many(batch, {}, dry_run=dry)
            except InvalidArgument:
                assert with_error and not ghost  # refused whole: the invariant checks it
                return
            if ghost:
                assert (done.applied, done.missing) == (False, ["nope"])
                return
            assert not with_error
            moved = sum(_norm(after[i]) != _norm(self.model[i][1]) for i in after)
            assert (done.applied, done.changed, done.unchanged) == (
                not dry, moved, len(after) - moved)
            if not dry:
                for i, p in after.items():
                    self.model[i][1] = p

        @rule(pick=st.integers(0, 10**6))
        def delete(self, pick: int) -> None:
            if self.model:
                gone = sorted(self.model)[pick % len(self.model)]
                self.c.delete([gone])
                del self.model[gone], self.stored[gone]
                self.added.remove(gone)

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
            assert got == want

        @rule(f=filters(), k=st.integers(1, 8))
        def filtered_search(self, f: Filter, k: int) -> None:
            query = self.rng.normal(size=(1, 16)).astype(np.float32) * 4
            want = self.expected(f)
            for nprobe in (None, 4):  # the default (1) widens itself when short
                hits = self.c.search(query, k, nprobe=nprobe, filter=f)
                found = [hits.rows[r].id for r in hits.rowids[0] if r >= 0]
                assert set(found) <= set(want) and len(found) == min(k, len(want))
            if want:  # nprobe 4 covers every cluster: the exact top-k over the matches
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

    run_state_machine_as_test(Labels, settings=run_settings)


def _blobs(n: int) -> np.ndarray:
    from benchmarks.testbed import blob_vectors

    return blob_vectors(n=n, centres=4)
