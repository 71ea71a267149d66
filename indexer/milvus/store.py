"""A collection's images in a Milvus collection: the seed's clusters as Milvus's partition key.

One Milvus collection per lookalike collection, with five fields: `id` (VARCHAR primary
key), `vector` (FLOAT_VECTOR, squared-L2 metric like the local Faiss store), `path`,
`cluster` (INT64, our KMeans cluster, the **partition key**) and `payload` (JSON: labels and
attributes, indexer/milvus/payloads.py; absent from collections created before labels,
whose images then carry none until a recluster writes a generation with it). A query is
routed by our own centroids, as in the local store; Milvus then searches with
`cluster in [the nprobe nearest clusters]`, and the partition key prunes the other
partitions: route to nprobe clusters, scan them, merge, executed by Milvus. Each partition
holds a FLAT index: an exact scan within the probed clusters, so at nprobe = nlist the
answers equal the local store's.

Milvus hashes partition-key values into at most `num_partitions` partitions (capped here at
1,024), so with more clusters than that a partition holds several clusters; the filter keeps
results exact either way.

Reads use Strong consistency by default: an insert or delete acknowledged to any client is
seen by every later search from any server, which is what several stateless lookalike
servers sharing one collection need. It costs a wait for Milvus's time tick on each read
(`proxy.timeTickInterval`, 200 ms by default; about 20 ms at 10 ms, measured on the
embedded 2.3.5 server here). `consistency=bounded` in the store address trades that for
Milvus's bounded staleness (`common.gracefulTime`).

Every pymilvus error leaves this module as a lookalike error (address.milvus_errors).
Batched searches go out grouped by their probed clusters (grouped_search.py).

Rows with a negative cluster are not images: a generation keeps its centroids in its own
collection as such rows (indexer/milvus/generations.py), so every read here skips them.
"""

from __future__ import annotations

import copy
import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from lookalike.common.errors import AlreadyExists, InvalidArgument
from lookalike.indexer.milvus.address import MilvusAddress, milvus_errors
from lookalike.indexer.milvus.payloads import FIELD, both, string

logger = logging.getLogger(__name__)

MAX_PARTITIONS = 1024
MAX_ID = 4096  # as the local store's id check
MAX_PATH = 65535  # Milvus's VARCHAR limit
INSERT_BATCH = 2000


IMAGES = "cluster >= 0"  # the filter that leaves out a generation's centroid rows


def generated_ids(n: int) -> list[str]:
    """Ids for images added without one. Several servers write one Milvus collection, so
    no shared counter: random 128-bit ids, hex, with a prefix no user id check refuses."""
    return [f"g{uuid.uuid4().hex}" for _ in range(n)]


def _quoted(values: Sequence[str]) -> str:
    """A Milvus expression list of string literals. JSON's string escapes (\\", \\\\, \\n,
    \\uXXXX) are the C escapes Milvus's expression grammar reads, so any text stays data."""
    import json

    return json.dumps(list(values), ensure_ascii=False)


class MilvusVectors:
    """The Milvus side of a collection: insert, delete, find, search within clusters, count.

    Thread-safe (pymilvus's client is); each call is one or a few Milvus requests. It works
    on the Milvus collection `name` (the address's name at first); at(name) gives a view of
    another one over the same connection.
    """

    def __init__(self, address: MilvusAddress, dim: int, token: str = "",
                 timeout: float = 30.0) -> None:
        from pymilvus import MilvusClient

        self.address, self.dim, self.timeout = address, dim, timeout
        self.name = address.name
        self._view = False
        self._labelled: dict[str, bool] = {}  # Milvus collection -> has the payload field
        self._closed = threading.Event()
        with milvus_errors(address):
            self.client = MilvusClient(uri=address.uri, token=token, timeout=timeout)

    def at(self, name: str) -> MilvusVectors:
        """The same connection, working on the Milvus collection (or alias) name."""
        view = copy.copy(self)
        view.name, view._view = name, True
        return view

    # -- creation ----------------------------------------------------------------------
    def exists(self) -> bool:
        with milvus_errors(self.address):
            return bool(self.client.has_collection(self.name))

    def create(self, nlist: int, description: str = "", payloads: bool = True) -> None:
        """Creates the Milvus collection (refusing an existing one) and loads it.

        payloads: with the payload field (False only lays out a collection as built before
        labels, for tests of them).
        """
        from pymilvus import DataType, MilvusClient

        if self.exists():
            raise AlreadyExists(f"Milvus at {self.address.uri} already has a collection "
                                f"{self.name!r}; choose another name or drop it")
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False,
                                            description=description)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=MAX_ID * 4)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        schema.add_field("path", DataType.VARCHAR, max_length=MAX_PATH)
        schema.add_field("cluster", DataType.INT64, is_partition_key=True)
        if payloads:
            schema.add_field(FIELD, DataType.JSON)
        index = self.client.prepare_index_params()
        index.add_index(field_name="vector", index_type="FLAT", metric_type="L2")
        with milvus_errors(self.address):
            self.client.create_collection(
                self.name, schema=schema, index_params=index,
                num_partitions=int(min(max(nlist, 1), MAX_PARTITIONS)),
                consistency_level=self.address.consistency)
            self.client.load_collection(self.name)
        self._labelled[self.name] = payloads

    def labelled(self) -> bool:
        """Whether this Milvus collection has the payload field (created since labels)."""
        found = self._labelled.get(self.name)
        if found is None:
            with milvus_errors(self.address):
                about = self.client.describe_collection(self.name)
            found = any(f.get("name") == FIELD for f in about.get("fields", []))
            self._labelled[self.name] = found
        return found

    def _fields(self, vectors: bool = False, payloads: bool = True) -> list[str]:
        return (["id", "path", "cluster"] + (["vector"] if vectors else [])
                + ([FIELD] if payloads and self.labelled() else []))

    def load(self) -> None:
        with milvus_errors(self.address):
            if not self.client.has_collection(self.name):
                from lookalike.common.errors import CollectionError

                raise CollectionError(f"Milvus at {self.address.uri} has no collection "
                                      f"{self.name!r}")
            self.client.load_collection(self.name)

    def drop(self) -> None:
        with milvus_errors(self.address):
            self.client.drop_collection(self.name)

    # -- writes ------------------------------------------------------------------------
    def insert(self, ids: Sequence[str], paths: Sequence[str], clusters: np.ndarray,
               vectors: np.ndarray, payloads: Sequence[dict] | None = None) -> None:
        """Stores rows (payloads: payloads.to_json's, None: empty ones); on return Milvus has
        acknowledged them (written to its log)."""
        self._write(self.client.insert, ids, paths, clusters, vectors, payloads)

    def upsert(self, ids: Sequence[str], paths: Sequence[str], clusters: np.ndarray,
               vectors: np.ndarray, payloads: Sequence[dict] | None = None) -> None:
        """Stores rows, replacing any of the same ids (a write redone on a new generation, or
        new labels: Milvus 2.3 has no partial update). Not Milvus's upsert, which 2.3.5
        routes past the partition key: see rewrite.py."""
        from lookalike.indexer.milvus.rewrite import rewrite

        rewrite(self, ids, paths, clusters, vectors, payloads)

    def stashed(self) -> list[dict[str, Any]]:
        """Every row a rewrite stashed (rewrite.py), with vectors, paged by id."""
        from lookalike.indexer.milvus.rewrite import PENDING

        found: list[dict[str, Any]] = []
        with milvus_errors(self.address):
            while True:
                after = f" and id > {string(found[-1]['id'])}" if found else ""
                page = self.client.query(self.name, filter=f"cluster == {PENDING}{after}",
                                         output_fields=self._fields(True), limit=16_384,
                                         consistency_level=self.address.consistency)
                found += sorted(page, key=lambda r: r["id"])
                if len(page) < 16_384:
                    return found

    def _write(self, method: Callable[..., Any], ids: Sequence[str], paths: Sequence[str],
               clusters: np.ndarray, vectors: np.ndarray,
               payloads: Sequence[dict] | None) -> None:
        rows = [{"id": i, "path": p, "cluster": int(c), "vector": v.tolist()}
                for i, p, c, v in zip(ids, paths, clusters, vectors, strict=True)]
        if self.labelled():
            given = payloads if payloads is not None else [{}] * len(rows)
            for row, payload in zip(rows, given, strict=True):
                row[FIELD] = payload
        elif payloads is not None and any(payloads):
            raise InvalidArgument("this Milvus collection was created before labels and "
                                  "cannot hold them: run `lookalike recluster` once to move "
                                  "it to a generation that can")
        with milvus_errors(self.address):
            for start in range(0, len(rows), INSERT_BATCH):
                method(self.name, rows[start:start + INSERT_BATCH])

    def delete(self, ids: Sequence[str]) -> None:
        # A filter quoted by us, not delete(ids=...): pymilvus quotes those with bare single
        # quotes, so an id holding one broke the expression (found by a property test).
        with milvus_errors(self.address):
            for start in range(0, len(ids), INSERT_BATCH):
                self.client.delete(self.name,
                                   filter=f"id in {_quoted(ids[start:start + INSERT_BATCH])}")

    def flush(self) -> None:
        with milvus_errors(self.address):
            self.client.flush(self.name)

    # -- reads -------------------------------------------------------------------------
    def find(self, ids: Sequence[str], vectors: bool = False) -> list[dict[str, Any]]:
        """The stored rows among ids (id, path, cluster[, vector], payload), in no set order."""
        fields = self._fields(vectors)
        found: list[dict[str, Any]] = []
        with milvus_errors(self.address):
            for start in range(0, len(ids), 1000):
                found += self.client.query(
                    self.name, filter=f"{IMAGES} and id in {_quoted(ids[start:start + 1000])}",
                    output_fields=fields, consistency_level=self.address.consistency)
        return found

    def search(self, queries: np.ndarray, probes: np.ndarray | None, k: int, where: str = ""
               ) -> tuple[np.ndarray, list[list[dict[str, Any]]]]:
        """Each query's k nearest rows within its probed clusters that where matches
        (probes None: in every cluster); see grouped_search.search_grouped."""
        from lookalike.indexer.milvus.grouped_search import search_grouped

        return search_grouped(self, queries, probes, k, where)

    def count(self, cluster: int | None = None, consistency: str | None = None) -> int:
        """Images stored, or in one cluster: one Milvus request (at the address's
        consistency unless given). Milvus 2.3 has no count grouped by cluster: see
        indexer/milvus/sizes.py for how the sizes are kept without a count per cluster."""
        where = IMAGES if cluster is None else f"cluster == {int(cluster)}"
        with milvus_errors(self.address):
            got = self.client.query(self.name, filter=where,
                                    output_fields=["count(*)"],
                                    consistency_level=consistency or self.address.consistency)
        return int(got[0]["count(*)"])

    def count_where(self, where: str) -> int:
        """How many images the expression where matches."""
        with milvus_errors(self.address):
            got = self.client.query(self.name, filter=both(IMAGES, where),
                                    output_fields=["count(*)"],
                                    consistency_level=self.address.consistency)
        return int(got[0]["count(*)"])

    def page(self, where: str, after: str | None, limit: int, vectors: bool = False
             ) -> list[dict[str, Any]]:
        """Up to limit images that where matches, ids above after, in id order (Milvus
        answers a limited query with the lowest primary keys: its query iterator's rule)."""
        start = "" if after is None else f"id > {string(after)}"
        with milvus_errors(self.address):
            found = self.client.query(self.name, filter=both(IMAGES, start, where),
                                      output_fields=self._fields(vectors), limit=limit,
                                      consistency_level=self.address.consistency)
        return sorted(found, key=lambda r: r["id"])[:limit]

    def iter_rows(self, vectors: bool = True, batch: int = 2000, where: str = "",
                  payloads: bool = True) -> Iterator[list[dict]]:
        """Every stored row that where matches, in batches (for reports, updates and
        reclustering)."""
        fields = self._fields(vectors, payloads)
        with milvus_errors(self.address):
            it = self.client.query_iterator(self.name, batch_size=batch,
                                            filter=both(IMAGES, where),
                                            output_fields=fields,
                                            consistency_level=self.address.consistency)
            try:
                while page := it.next():
                    yield page
            finally:
                it.close()

    def close(self) -> None:
        if not self._view and not self._closed.is_set():
            self._closed.set()
            self.client.close()
