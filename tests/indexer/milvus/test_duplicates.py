"""Duplicates are store-agnostic: a Milvus-mode collection gives the local store's groups."""

from __future__ import annotations

from pathlib import Path

from benchmarks.testbed import blob_vectors, make_collection, milvus_vectors_folder, vector_ids
from lookalike.indexer.copies import collection_groups, stored_calibration
from lookalike.indexer.opener import open_collection


def test_milvus_and_local_collections_give_the_same_groups(tmp_path: Path, model_dir: Path,
                                                           milvus_uri: str) -> None:
    vectors = blob_vectors(n=600, centres=6, seed=3)
    vectors[100:110] = vectors[5]  # ten identical
    vectors[200:260] = vectors[300:360] + 0.05  # sixty near pairs
    ids = vector_ids(len(vectors))
    address = f"milvus://{milvus_uri}/duplicates0"
    folder = milvus_vectors_folder(tmp_path / "m", model_dir, address, vectors, k=4)
    local = make_collection(tmp_path / "l", model_dir, vectors, k=4, ids=list(ids))
    with open_collection(folder, read_only=True) as milvus:
        assert stored_calibration(milvus) is None  # made from vectors, not built
        got = {frozenset(r.id for r in g.rows)
               for g in collection_groups(milvus, 0.1, nprobe=4, read_files=False)}
    want = {frozenset(r.id for r in g.rows)
            for g in collection_groups(local, 0.1, nprobe=4, read_files=False)}
    local.close()
    assert got == want
    assert frozenset(ids[100:110]) | {ids[5]} in got
    assert sum(len(g) for g in got) >= 131


def test_a_milvus_folder_keeps_its_calibration(tmp_path: Path, model_dir: Path,
                                               milvus_uri: str) -> None:
    import json

    from lookalike.indexer.calibration import Calibration
    from lookalike.indexer.clustering import fit_kmeans
    from lookalike.indexer.manifest import Manifest
    from lookalike.indexer.milvus.address import MilvusAddress
    from lookalike.indexer.milvus.folder import create_milvus_collection

    vectors = blob_vectors(n=50, centres=2, seed=1)
    fingerprint = json.loads((model_dir / "model.json").read_text())["fingerprint"]
    calibration = Calibration(0.1, 0.05, 0.3)
    create_milvus_collection(
        tmp_path / "m", model_dir, Manifest(fingerprint, vectors.shape[1], 64), vectors,
        [f"/img/{i}.png" for i in range(50)], vector_ids(50), fit_kmeans(vectors, 2)[0], 2,
        MilvusAddress.parse(f"milvus://{milvus_uri}/duplicates1"), None,
        calibration.to_settings())
    with open_collection(tmp_path / "m", read_only=True) as milvus:
        assert stored_calibration(milvus) == calibration
