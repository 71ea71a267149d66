"""The Milvus collection's label writes: update and update_many.

Milvus 2.3 has no partial update: the images are read with their vectors and rewritten
whole (rewrite.py: delete then insert behind a backup, all or nothing). A mixin over
MilvusLabelling (labelling.py), within MilvusCollection, which owns the write protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

from lookalike.common.errors import InvalidArgument
from lookalike.common.label_batch import Edit, apply_edits, check_batch, renamed
from lookalike.common.labels import Change, Payload
from lookalike.indexer.clustering import route
from lookalike.indexer.interface import Edited, Target, Updated
from lookalike.indexer.milvus.generations import Generation
from lookalike.indexer.milvus.labelling import MilvusLabelling, names_in, read_all
from lookalike.indexer.milvus.payloads import FIELD, check_size, from_json, to_json
from lookalike.indexer.milvus.rewrite import recover
from lookalike.indexer.milvus.store import MilvusVectors

T = TypeVar("T")


class MilvusRelabel(MilvusLabelling):
    """update and update_many."""

    def update(self, target: Target, change: Change) -> Updated:
        """Applies change to the target's images; see CollectionLike.update.

        Milvus 2.3 has no partial update: the images are read with their vectors and
        upserted whole. Every new payload is computed and checked before the first write,
        so a refused change writes nothing; the upserts go in batches of 2,000, so a crash
        amid a larger update can leave part of it written (run it again: it is idempotent).
        Two servers updating one image at the same instant: the last upsert wins.
        """
        self._writable()
        before: list[Payload] = []

        def work(g: Generation) -> tuple[Generation, list[dict[str, Any]], list[str]]:
            view = self._labelled_view(g)
            rows, missing = self._targets(g, view, target)
            before[:] = [from_json(r.get(FIELD)) for r in rows]
            for r in rows:
                r[FIELD] = to_json(change.apply(from_json(r.get(FIELD)), f"image {r['id']!r}"))
            check_size((from_json(r[FIELD]) for r in rows), "a changed image")
            self._put(view, rows, None)
            return g, rows, missing

        with self._edits:
            rows, missing = self._rewritten(work, before)
        return Updated(len(rows), missing)

    def _rewritten(self, work: Callable[[Generation], tuple[Generation, list, T]],
                   before: list[Payload]) -> tuple[list[dict[str, Any]], T]:
        """(rows, what else work answers): work rewrites rows on the current generation
        (their payloads were `before`); the rewrite is settled (redone on a new generation
        if a recluster switched meanwhile) and the label counts follow. Hold _edits."""
        wrote, rows, other = self._on_current(work)
        if rows:
            self._settle(wrote, lambda g: self._put(self.vectors.at(g.name), rows, g))
            self.labels.moved(before, [from_json(r[FIELD]) for r in rows])
        return rows, other

    def _labelled_view(self, g: Generation) -> MilvusVectors:
        """The generation's rows to change labels in, a crashed rewrite finished first."""
        view = self.vectors.at(g.name)
        if not view.labelled():
            raise InvalidArgument("this Milvus collection was created before labels: run "
                                  "`lookalike recluster` once to give it a generation "
                                  "that holds them")
        recover(view)
        return view

    def update_many(self, edits: Sequence[Edit], names: Mapping[int, str],
                    dry_run: bool = False) -> Edited:
        """Each image's own edit as one rewrite behind its backup (rewrite.py: every changed
        row or none), each edit applied to the payload read under this server's write
        lock; then the cluster names, as name_cluster writes them. See
        CollectionLike.update_many. Two servers editing one image at the same instant:
        the last rewrite wins (Milvus has no row locks)."""
        names = check_batch(edits, names)
        self._writable()
        before: list[Payload] = []

        def work(g: Generation) -> tuple[Generation, list[dict[str, Any]], Edited]:
            view = self._labelled_view(g)
            for cluster in names:
                self._check_cluster(g, cluster)
            ids = [e.id for e in edits]
            rows = {r["id"]: r for r in view.find(ids)}
            missing = [i for i in ids if i not in rows]
            if missing:
                return g, [], Edited(False, 0, 0, missing, 0)
            held = {i: from_json(r.get(FIELD)) for i, r in rows.items()}
            new = apply_edits(edits, held)
            check_size(new.values(), "a changed image")
            now = names_in(self._properties(force=True))
            done = Edited(not dry_run, len(new), len(edits) - len(new), [],
                          len(renamed(names, now)))
            if dry_run or not new:
                return g, [], done
            full = view.find(list(new), vectors=True)
            before[:] = [held[r["id"]] for r in full]
            for r in full:
                r[FIELD] = to_json(new[r["id"]])
            self._put(view, full, None)
            return g, full, done

        with self._edits:
            _, done = self._rewritten(work, before)
            if done.applied:
                for cluster, name in renamed(names, self.cluster_names()).items():
                    self.name_cluster(cluster, name)
        return done

    def _put(self, view: MilvusVectors, rows: list[dict[str, Any]],
             routed: Generation | None) -> None:
        """Upserts rows whole; routed: a new generation, whose clusters are recomputed."""
        vectors = np.asarray([r["vector"] for r in rows], np.float32).reshape(-1, self.dim)
        clusters = (np.array([r["cluster"] for r in rows], np.int64) if routed is None
                    else route(vectors, routed.quantizer)[:, 0])
        view.upsert([r["id"] for r in rows], [r["path"] for r in rows], clusters, vectors,
                    [r[FIELD] for r in rows])

    def _targets(self, g: Generation, view: MilvusVectors, target: Target
                 ) -> tuple[list[dict[str, Any]], list[str]]:
        if target.ids is not None:
            rows = view.find(list(dict.fromkeys(target.ids)), vectors=True)
            found = {r["id"] for r in rows}
            return rows, [i for i in target.ids if i not in found]
        if target.cluster is not None:
            self._check_cluster(g, target.cluster)
            return read_all(view, f"cluster == {int(target.cluster)}", vectors=True), []
        return read_all(view, self._where(g, target.filter), vectors=True), []
