"""`build --store milvus://...` stores a manifest's labels and attributes with the images in
the real Milvus server, as a local build does."""

from __future__ import annotations

import itertools
from pathlib import Path

from lookalike.common.filters import Condition, Filter, Range
from lookalike.encoder import checkpoint
from lookalike.indexer.manifest import MODEL_DIR
from lookalike.indexer.opener import open_collection
from lookalike.pipeline.build import BuildConfig, build_collection

_names = itertools.count()


def test_a_milvus_build_stores_the_manifests_labels_and_attributes(
        tmp_path: Path, image_folder: Path, built_collection: Path, milvus_uri: str) -> None:
    images = sorted(image_folder.glob("*.png"))
    lines = ["path,id,labels,attr.source,attr.price:number"]
    for n, image in enumerate(images):
        labels = "cat;indoor" if n % 4 == 0 else ('["a;b"]' if n % 4 == 1 else "")
        price = str(n) if n % 2 == 0 else ""
        lines.append(f"{image},img{n},{labels},{'shop' if n < 10 else ''},{price}")
    manifest = tmp_path / "photos.csv"
    manifest.write_text("\n".join(lines) + "\n")
    out = tmp_path / "c"
    build_collection(manifest, out, BuildConfig(
        clusters=4, store=f"milvus://{milvus_uri}/buildlabels{next(_names)}"),
        model=checkpoint.load(built_collection / MODEL_DIR))
    with open_collection(out) as c:
        assert c.describe().store.startswith("milvus://")
        quarter = [n for n in range(len(images)) if n % 4 == 0]
        assert len(images) > 20 and c.label_counts() == {
            "cat": len(quarter), "indoor": len(quarter),
            "a;b": len([n for n in range(len(images)) if n % 4 == 1])}
        items, missing = c.get(["img0", "img1", "img3"])
        assert not missing
        assert [(set(i.payload.labels), dict(i.payload.attributes)) for i in items] == [
            ({"cat", "indoor"}, {"source": "shop", "price": 0.0}),
            ({"a;b"}, {"source": "shop"}), (set(), {"source": "shop"})]
        assert c.count(Filter.checked(conditions=[Condition("price", range=Range(10, 20))])
                       ) == len([n for n in range(10, min(21, len(images))) if n % 2 == 0])
        assert c.count(Filter.checked(all_of=["cat"], conditions=[
            Condition("source", equals="shop")])) == 3
        hits = c.search(c.lookup("img4")[1][None], 5, filter=Filter.checked(any_of=["cat"]))
        assert len(hits.rows) == 5 and all(p.labels == {"cat", "indoor"}
                                           for p in hits.payloads.values())
