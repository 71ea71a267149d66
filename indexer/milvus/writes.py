"""The Milvus collection's writes of images: add and delete.

A mixin of MilvusCollection (collection.py), which owns the connection, the current
generation and the write protocol (_on_current, _settle) these methods follow: a write
lands on the current generation, and one that meets a recluster's fence is redone on the
new generation (idempotently).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from lookalike.common.errors import AlreadyExists, InvalidArgument
from lookalike.common.labels import Payload
from lookalike.indexer.checks import check_add
from lookalike.indexer.clustering import route
from lookalike.indexer.interface import Row
from lookalike.indexer.milvus.generations import Generation
from lookalike.indexer.milvus.payloads import FIELD, check_size, from_json, to_json
from lookalike.indexer.milvus.store import MAX_PATH, generated_ids

if TYPE_CHECKING:
    from lookalike.indexer.milvus.label_counts import LabelCounts
    from lookalike.indexer.milvus.sizes import ClusterSizes
    from lookalike.indexer.milvus.store import MilvusVectors

T = TypeVar("T")


class MilvusWrites:
    """add and delete."""

    vectors: MilvusVectors
    dim: int
    sizes: ClusterSizes
    labels: LabelCounts
    _edits: Any  # a lock: this server's label writes and deletes, one at a time

    # MilvusCollection provides these.
    def _on_current(self, work: Callable[[Generation], T]) -> T: ...  # pragma: no cover
    def _settle(self, wrote: Generation, redo: Callable[[Generation], None]) -> None: ...
    def _writable(self) -> None: ...  # pragma: no cover

    def add(self, vectors: np.ndarray, paths: list[str], ids: Sequence[str | None],
            payloads: Sequence[Payload] | None = None) -> list[Row]:
        """Stores the images (and their labels and attributes) in Milvus; on return they are
        durable and searchable everywhere.

        A given id already stored is refused (AlreadyExists) and nothing is stored. Two
        servers adding the same new id at the same moment can both succeed: Milvus does not
        enforce primary keys (docs/scale-out.md).
        """
        self._writable()
        vectors, paths = check_add(vectors, paths, list(ids), self.dim)
        long = next((p for p in paths if len(p.encode()) > MAX_PATH), None)
        if long is not None:
            raise InvalidArgument(f"a path of {len(long.encode())} bytes is over Milvus's "
                                  f"{MAX_PATH}-byte limit")
        if payloads is not None and len(payloads) != len(paths):
            raise InvalidArgument(f"{len(payloads)} payloads for {len(paths)} images")
        stored = None if payloads is None else [to_json(p) for p in payloads]
        if payloads is not None:
            check_size(payloads)
        given = [i for i in ids if i is not None]
        if len(set(given)) < len(given):
            raise AlreadyExists("an id is given twice in one add")
        taken = self._on_current(lambda g: self.vectors.at(g.name).find(given)) if given else []
        if taken:
            raise AlreadyExists(f"the id {taken[0]['id']!r:.80} is already in the collection")
        fresh = iter(generated_ids(len(ids) - len(given)))
        final = [i if i is not None else next(fresh) for i in ids]
        clusters: list[np.ndarray] = []
        written: list[Generation] = []

        def write(g: Generation, redone: bool = False) -> Generation:
            clusters[:] = [route(vectors, g.quantizer)[:, 0]]
            store = self.vectors.at(g.name)
            (store.upsert if redone else store.insert)(final, paths, clusters[0], vectors,
                                                       stored)
            written[:] = [g]
            return g

        self._settle(self._on_current(write), lambda g: write(g, redone=True))
        self.sizes.changed(written[0], clusters[0], +1)
        self.labels.moved((), payloads or ())
        return [Row(-1, i, p, int(c)) for i, p, c in zip(final, paths, clusters[0], strict=True)]

    def delete(self, ids: Sequence[str]) -> tuple[list[Row], list[str]]:
        """Deletes the stored ones among ids; returns (deleted rows, missing ids)."""
        self._writable()

        def remove(g: Generation) -> tuple[Generation, list[dict]]:
            found = self.vectors.at(g.name).find(list(ids))
            if found:
                self.vectors.at(g.name).delete([r["id"] for r in found])
            return g, found

        with self._edits:  # an update between the find and the delete must not revive rows
            wrote, found = self._on_current(remove)
        if found:
            redone: list[Generation] = []

            def redo(g: Generation) -> None:
                self.vectors.at(g.name).delete([r["id"] for r in found])
                redone.append(g)

            self._settle(wrote, redo)
            # Redone on a new generation, the rows' clusters there are unknown: its sizes
            # come from the recluster and the next recount.
            if not redone:
                self.sizes.changed(wrote, np.asarray([r["cluster"] for r in found]), -1)
            self.labels.moved([from_json(r.get(FIELD)) for r in found], ())
        rows = [Row(-1, r["id"], r["path"], int(r["cluster"])) for r in found]
        present = {r.id for r in rows}
        return rows, [i for i in ids if i not in present]
