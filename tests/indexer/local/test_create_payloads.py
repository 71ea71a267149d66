"""A new local collection stores the labels and attributes a build manifest gave its rows."""

from __future__ import annotations

import json

from benchmarks.testbed import blob_vectors
from lookalike.common.labels import EMPTY, check_payload
from lookalike.indexer.clustering import fit_kmeans
from lookalike.indexer.local.collection import Collection
from lookalike.indexer.local.create import write_collection
from lookalike.indexer.manifest import Manifest


def test_write_collection_stores_each_rows_payload(tmp_path, model_dir):
    vectors = blob_vectors(40)
    manifest = Manifest(json.loads((model_dir / "model.json").read_text())["fingerprint"],
                        vectors.shape[1], 64)
    centroids, _ = fit_kmeans(vectors, 4)
    payloads = [check_payload(["even"] if i % 2 == 0 else [], [("n", float(i))])
                if i < 10 else EMPTY for i in range(40)]
    write_collection(tmp_path / "c", model_dir, manifest, vectors,
                     [f"/img/{i}.png" for i in range(40)], [f"r{i}" for i in range(40)],
                     centroids, 1, payloads=payloads)
    c = Collection.open(tmp_path / "c")
    try:
        items, missing = c.get(["r0", "r1", "r20"])
        assert not missing
        assert [(set(i.payload.labels), dict(i.payload.attributes)) for i in items] == [
            ({"even"}, {"n": 0.0}), (set(), {"n": 1.0}), (set(), {})]
        assert c.count() == 40
    finally:
        c.close()
