"""The Milvus collection's label reads and cluster names: browse, count, get, names, counts
(the label writes, update and update_many, are relabel.py's).

A mixin of MilvusCollection (collection.py), which owns the connection, the current
generation and the write protocol (_on_current, _settle) these methods use.

Where things live, so that every server sharing the collection sees them at once:
- labels and attributes: each image's `payload` JSON field (payloads.py);
- cluster names: properties `lookalike.name.C` of the current generation's Milvus
  collection; names belong to one clustering, so a recluster writes the carried names
  (recluster.carry_names) onto the new generation before it switches the alias;
- the page-token key: the property `lookalike.pages`, made on first use, carried by a
  recluster.
Searches read names from the generation's description, re-read every REFRESH_S with it;
cluster_names() reads them fresh.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from lookalike.common.errors import InvalidArgument
from lookalike.common.filters import EVERYTHING, Filter
from lookalike.common.labels import check_cluster_name
from lookalike.indexer.interface import Item, Page, Row
from lookalike.indexer.milvus.generations import Generation, describe, fenced_until, set_property
from lookalike.indexer.milvus.label_counts import LabelCounts
from lookalike.indexer.milvus.payloads import FIELD, expression, from_json
from lookalike.indexer.pages import check_page_size, make_key_token, read_key_token

if TYPE_CHECKING:
    from lookalike.indexer.milvus.store import MilvusVectors

NAME = "lookalike.name."  # + cluster number: that cluster's name in this generation
PAGES = "lookalike.pages"  # hex key that signs page tokens
PAGE_ROWS = 10_000  # rows per Milvus query when reading a whole target (Milvus caps 16,384)
MATCHES_TTL = 5.0  # seconds a filter's match count, which widens its searches, is kept
MATCHES_KEPT = 256  # filters whose match counts are kept
T = TypeVar("T")


def names_in(properties: dict[str, Any]) -> dict[int, str]:
    """The cluster names a generation's properties hold (an empty value: cleared)."""
    found = {}
    for key, value in properties.items():
        if key.startswith(NAME) and value and key[len(NAME):].isdigit():
            found[int(key[len(NAME):])] = str(value)
    return found


def read_all(view: MilvusVectors, where: str, vectors: bool = False) -> list[dict[str, Any]]:
    """Every image where matches, paged by id (our own quoting of the cursor)."""
    found: list[dict[str, Any]] = []
    after = None
    while True:
        page = view.page(where, after, PAGE_ROWS, vectors)
        found += page
        if len(page) < PAGE_ROWS:
            return found
        after = page[-1]["id"]


class MilvusLabelling:
    """browse, count, get, name_cluster, cluster_names and label_counts."""

    vectors: MilvusVectors
    dim: int
    labels: LabelCounts
    _matches: dict[tuple[str, str], tuple[float, int]]
    _edits: Any  # a lock: this server's payload writes read and write one at a time

    # MilvusCollection provides these.
    def generation(self, force: bool = False) -> Generation: ...  # pragma: no cover
    def _on_current(self, work: Callable[[Generation], T]) -> T: ...  # pragma: no cover
    def _settle(self, wrote: Generation, redo: Callable[[Generation], None]) -> None: ...
    def _writable(self) -> None: ...  # pragma: no cover
    def _properties(self, force: bool = False) -> dict[str, Any]: ...  # pragma: no cover

    def cluster_sizes(self) -> list[int]: ...  # pragma: no cover

    def _widened(self, g: Generation, where: str, nprobe: int) -> int:
        """nprobe for a filter that matches a share s of the images: nprobe / s, capped at
        nlist. Spread evenly, the matches in nprobe / s clusters are about as many as the
        images an unfiltered search scans, which is what its recall was chosen for (at
        nprobe itself, a 1% label scored recall@10 0.59 at 20K). The count is one Milvus
        query per filter, kept MATCHES_TTL seconds."""
        key, now = (g.name, where), time.monotonic()
        when, matches = self._matches.get(key, (-np.inf, 0))
        if now - when > MATCHES_TTL:
            matches = self.vectors.at(g.name).count_where(where)
            if len(self._matches) >= MATCHES_KEPT:
                self._matches.pop(next(iter(self._matches)))
            self._matches[key] = (now, matches)
        total = sum(self.cluster_sizes())
        if matches <= 0 or total <= 0:
            return nprobe
        return int(min(g.nlist, math.ceil(nprobe * total / matches)))

    def _where(self, g: Generation, f: Filter | None) -> str:
        if f is None or f.everything:
            return ""
        return expression(f, self.vectors.at(g.name).labelled())

    def count(self, filter: Filter | None = None) -> int:
        """How many stored images filter matches (every image when None)."""
        return self._on_current(lambda g: self.vectors.at(g.name).count_where(
            self._where(g, filter)))

    def _secret(self) -> bytes:
        key = self._properties().get(PAGES) or self._properties(force=True).get(PAGES)
        if not key:
            if getattr(self, "read_only", False):  # cannot store one: a fixed one per name
                return hashlib.sha256(f"lookalike:{self.vectors.address.name}".encode()).digest()
            g = self.generation()
            set_property(self.vectors, g.name, PAGES, os.urandom(32).hex())
            key = self._properties(force=True).get(PAGES)  # whoever wrote last wins
        return bytes.fromhex(str(key))

    def browse(self, filter: Filter | None = None, page_size: int = 100, page_token: str = "",
               with_vectors: bool = False) -> Page:
        """Up to page_size matching images in id order after the token's id; see
        CollectionLike.browse (Milvus has no row numbers: the order is the primary key's)."""
        f = filter or EVERYTHING
        size = check_page_size(page_size)
        secret = self._secret()
        after = read_key_token(secret, f, page_token)
        rows = self._on_current(lambda g: self.vectors.at(g.name).page(
            self._where(g, f), after, size + 1, with_vectors))
        more = len(rows) > size
        rows = rows[:size]
        token = make_key_token(secret, f, rows[-1]["id"]) if more else ""
        return Page(self._items(rows, with_vectors), token)

    def get(self, ids: list[str], with_vectors: bool = False) -> tuple[list[Item], list[str]]:
        """(the stored images of ids, in the order asked, the ids not stored)."""
        found = {r["id"]: r for r in self._on_current(
            lambda g: self.vectors.at(g.name).find(list(dict.fromkeys(ids)), with_vectors))}
        rows = [found[i] for i in dict.fromkeys(ids) if i in found]
        return self._items(rows, with_vectors), [i for i in ids if i not in found]

    def _items(self, rows: list[dict[str, Any]], with_vectors: bool) -> list[Item]:
        names = names_in(self._properties())
        return [Item(Row(n, r["id"], r["path"], int(r["cluster"])), from_json(r.get(FIELD)),
                     names.get(int(r["cluster"]), ""),
                     np.asarray(r["vector"], np.float32) if with_vectors else None)
                for n, r in enumerate(rows)]

    @staticmethod
    def _check_cluster(g: Generation, cluster: int) -> None:
        if not 0 <= cluster < g.nlist:
            raise InvalidArgument(f"cluster {cluster} is not in this collection (0 to "
                                  f"{g.nlist - 1})")

    def name_cluster(self, cluster: int, name: str) -> str:
        """Names a cluster (empty: clears it); returns its previous name.

        Waits out a recluster's fence first, so that the name lands on the clustering that
        stays; the recluster carries the names it reads once fenced.
        """
        name = check_cluster_name(name)
        self._writable()
        while True:
            g = self.generation(force=True)
            about = describe(self.vectors, g.name) or {}
            if fenced_until(about) <= time.time():
                break
            time.sleep(0.05)
        self._check_cluster(g, cluster)
        previous = names_in(about.get("properties", {})).get(cluster, "")
        set_property(self.vectors, g.name, f"{NAME}{int(cluster)}", name)
        self._properties(force=True)
        return previous

    def cluster_names(self) -> dict[int, str]:
        """Every named cluster's name, read fresh from Milvus."""
        return names_in(self._properties(force=True))

    def label_counts(self) -> dict[str, int]:
        """How many images carry each label, from memory (label_counts.py)."""
        return self.labels.read()

    def _scan_labels(self) -> dict[str, int]:
        """Every image's labels counted: a scan of every payload (Milvus 2.3 cannot group)."""
        def scan(g: Generation) -> dict[str, int]:
            view = self.vectors.at(g.name)
            if not view.labelled():
                return {}
            got: dict[str, int] = {}
            for r in read_all(view, ""):
                for label in (r.get(FIELD) or {}).get("l", ()):
                    got[label] = got.get(label, 0) + 1
            return got

        return self._on_current(scan)
