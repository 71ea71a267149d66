"""The local collection's label methods: browse, count, get, update and cluster names.

A mixin of Collection (collection.py), which owns the locks, the store and the in-memory
indexes these methods read and change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from lookalike.common.errors import InvalidArgument
from lookalike.common.filters import EVERYTHING, Filter
from lookalike.common.label_batch import Edit, apply_edits, check_batch, renamed
from lookalike.common.labels import EMPTY, Change, Payload, check_cluster_name
from lookalike.indexer.interface import Edited, Item, Page, Row, Target, Updated
from lookalike.indexer.local.filtered import forget_selections, where
from lookalike.indexer.pages import check_page_size, make_token, read_token

if TYPE_CHECKING:
    from lookalike.indexer.local.cluster_indexes import ClusterIndexes
    from lookalike.indexer.local.payload_index import PayloadIndex
    from lookalike.indexer.local.store import MetadataStore


class Browsing:
    """browse, count, get, update, name_cluster, cluster_names and label_counts."""

    store: MetadataStore
    dim: int
    _clusters: ClusterIndexes
    _payloads: PayloadIndex
    _names: dict[int, str]
    _rw: Any

    def _select(self, f: Filter) -> np.ndarray:
        """Sorted row numbers f matches (hold the read lock): the one evaluation behind
        search, browse, count and update."""
        indexes = self._clusters

        def universe() -> np.ndarray:
            return where(indexes)[0]

        def paths(prefix: str) -> np.ndarray:
            return np.intersect1d(self.store.path_rows(prefix), universe(), assume_unique=True)

        def clusters(chosen: frozenset[int]) -> np.ndarray:
            parts = [indexes.rows[c][:-1] for c in sorted(chosen) if c < indexes.nlist]
            return np.sort(np.concatenate(parts)) if parts else np.empty(0, np.int64)

        return self._payloads.select(f, universe, paths, clusters)

    def count(self, filter: Filter | None = None) -> int:
        """How many stored images filter matches (every image when None)."""
        self.follow()  # type: ignore[attr-defined]
        with self._rw.read():
            if filter is None or filter.everything:
                return sum(self._clusters.sizes())
            return len(self._select(filter))

    def browse(self, filter: Filter | None = None, page_size: int = 100, page_token: str = "",
               with_vectors: bool = False) -> Page:
        """Up to page_size matching images in row order after the token's row; see
        CollectionLike.browse."""
        f = filter or EVERYTHING
        size = check_page_size(page_size)
        after = read_token(self.store.page_secret(), f, page_token)
        self.follow()  # type: ignore[attr-defined]
        if f.everything:
            rows = self.store.rows_after(after, size + 1)
        else:
            with self._rw.read():
                matches = self._select(f)
            start = int(np.searchsorted(matches, after, side="right"))
            chosen = matches[start : start + size + 1].tolist()
            found = self.store.describe(chosen)
            rows = [found[r] for r in chosen if r in found]
        more = len(rows) > size
        rows = rows[:size]
        token = make_token(self.store.page_secret(), f, rows[-1].rowid) if more else ""
        return Page(self._items(rows, with_vectors), token)

    def get(self, ids: list[str], with_vectors: bool = False) -> tuple[list[Item], list[str]]:
        """(the stored images of ids, in the order asked, the ids not stored)."""
        self.follow()  # type: ignore[attr-defined]
        found = {r.id: r for r in self.store.find(list(ids))}
        rows = [found[i] for i in dict.fromkeys(ids) if i in found]
        return self._items(rows, with_vectors), [i for i in ids if i not in found]

    def _items(self, rows: list[Row], with_vectors: bool) -> list[Item]:
        payloads = self.store.payloads(r.rowid for r in rows)
        names = self.store.cluster_names()
        vectors: dict[int, np.ndarray] = {}
        if with_vectors and rows:
            got, _, values = self.store.vectors_of(np.array([r.rowid for r in rows]), self.dim)
            vectors = dict(zip(got.tolist(), values, strict=True))
        return [Item(r, payloads.get(r.rowid, EMPTY), names.get(r.cluster, ""),
                     vectors.get(r.rowid)) for r in rows]

    def update(self, target: Target, change: Change) -> Updated:
        """Applies change to the target's images in one transaction; see
        CollectionLike.update."""
        self.lock_exclusive()  # type: ignore[attr-defined]
        with self.writing():  # type: ignore[attr-defined]
            rowids, missing = self._targets(target)
            current = self.store.payloads(rowids)
            new = []
            for rowid in rowids:
                try:
                    new.append(change.apply(current.get(rowid, EMPTY)))
                except InvalidArgument as exc:
                    name = self.store.describe([rowid]).get(rowid)
                    raise InvalidArgument(f"image {name.id if name else rowid!r}: {exc}") from None
            if rowids:
                self.store.update_payloads(rowids, new)
                changed = dict(zip(rowids, new, strict=True))

                def change() -> None:
                    self._payloads.set(changed)
                    forget_selections(self._clusters)

                self._apply_own(len(rowids), change)  # type: ignore[attr-defined]
        return Updated(len(rowids), missing)

    def update_many(self, edits: Sequence[Edit], names: Mapping[int, str],
                    dry_run: bool = False) -> Edited:
        """Each image's own edit and the cluster names in one SQLite transaction through the
        change log, every edit applied to the payload read inside the write; see
        CollectionLike.update_many."""
        names = check_batch(edits, names)
        self.lock_exclusive()  # type: ignore[attr-defined]
        with self.writing():  # type: ignore[attr-defined]
            for cluster in names:
                self._check_cluster(cluster)
            ids = [e.id for e in edits]
            rows = {r.id: r for r in self.store.find(ids)}
            missing = [i for i in ids if i not in rows]
            if missing:
                return Edited(False, 0, 0, missing, 0)
            held = self.store.payloads([r.rowid for r in rows.values()])
            new = apply_edits(edits, {i: held.get(r.rowid, EMPTY) for i, r in rows.items()})
            now = self.store.cluster_names()
            names = renamed(names, now)
            done = Edited(not dry_run, len(new), len(edits) - len(new), [], len(names))
            if dry_run or not (new or names):
                return done
            rowids = [rows[i].rowid for i in new]
            written = self.store.update_payloads(rowids, list(new.values()), names)
            changed = dict(zip(rowids, new.values(), strict=True))
            after = {c: n for c, n in {**now, **names}.items() if n}

            def change() -> None:
                self._payloads.set(changed)
                forget_selections(self._clusters)
                self._names = after

            self._apply_own(written, change)  # type: ignore[attr-defined]
        return done

    def _targets(self, target: Target) -> tuple[list[int], list[str]]:
        """(row numbers, missing ids) of an update's target, inside writing()."""
        if target.ids is not None:
            rows = self.store.find(list(target.ids))
            found = {r.id for r in rows}
            return sorted({r.rowid for r in rows}), [i for i in target.ids if i not in found]
        if target.cluster is not None:
            self._check_cluster(target.cluster)
            return self.store.cluster_rows(target.cluster), []
        with self._rw.read():
            return self._select(target.filter or EVERYTHING).tolist(), []

    def _check_cluster(self, cluster: int) -> None:
        if not 0 <= cluster < self._clusters.nlist:
            raise InvalidArgument(f"cluster {cluster} is not in this collection (0 to "
                                  f"{self._clusters.nlist - 1})")

    def name_cluster(self, cluster: int, name: str) -> str:
        """Names a cluster (empty: clears it); returns its previous name."""
        name = check_cluster_name(name)
        self.lock_exclusive()  # type: ignore[attr-defined]
        with self.writing():  # type: ignore[attr-defined]
            self._check_cluster(cluster)
            previous = self.store.name_cluster(cluster, name)
            names = self.store.cluster_names()

            def change() -> None:
                self._names = names

            self._apply_own(1, change)  # type: ignore[attr-defined]
        return previous

    def cluster_names(self) -> dict[int, str]:
        self.follow()  # type: ignore[attr-defined]
        return dict(self._names)

    def label_counts(self) -> dict[str, int]:
        self.follow()  # type: ignore[attr-defined]
        with self._rw.read():
            return self._payloads.counts()

    def payload_of(self, rowid: int) -> Payload:
        with self._rw.read():
            return self._payloads.payload(rowid)
