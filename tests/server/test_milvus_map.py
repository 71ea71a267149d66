"""The collection map of a Milvus-mode collection, on a real Milvus server: kept in its folder
at build, served, images added since placed, recomputed at recluster with a new version."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lookalike.clients import Client
from lookalike.encoder import checkpoint
from lookalike.indexer.manifest import MODEL_DIR
from lookalike.indexer.map_file import read_map
from lookalike.indexer.milvus.recluster import recluster_milvus
from lookalike.indexer.opener import open_collection
from lookalike.indexer.recluster import ReclusterConfig
from lookalike.pipeline.build import BuildConfig, build_collection
from lookalike.server.config import ServerConfig
from lookalike.server.grpc_server import create_server


def test_a_milvus_build_keeps_a_map_the_server_streams_and_recluster_renews(
        tmp_path: Path, image_folder: Path, built_collection: Path, milvus_uri: str) -> None:
    folder = tmp_path / "c"
    build_collection(image_folder, folder,
                     BuildConfig(clusters=4, store=f"milvus://{milvus_uri}/mapped"),
                     model=checkpoint.load(built_collection / MODEL_DIR))
    kept = read_map(folder)
    assert len(kept.ids) == 48
    running = create_server(folder, ServerConfig(port=0))
    try:
        with Client(f"127.0.0.1:{running.port}") as client:
            got = client.map()
            assert sorted(got.ids) == sorted(kept.ids) and got.version == kept.version
            assert not got.placed.any()
            image = sorted(image_folder.iterdir())[11]
            client.add([str(image)], ids=["late"])
            placed = client.map()
            at = placed.ids.index("late")
            assert placed.placed[at] and placed.placed.sum() == 1
            twin = next(n.id for n in client.search(str(image), k=2).neighbors if n.id != "late")
            spread = np.median(np.linalg.norm(kept.xy[:, None] - kept.xy[None], axis=-1))
            assert np.linalg.norm(placed.xy[at] - kept.xy[kept.ids.index(twin)]) < spread / 2
            admin = open_collection(folder)
            try:
                recluster_milvus(admin, ReclusterConfig(clusters=3), grace_s=0)
            finally:
                admin.close()
            renewed = client.map()
            assert renewed.version != kept.version and "late" in renewed.ids
            assert not renewed.placed.any()  # mapped with the rest now
    finally:
        running.stop(grace_s=1)
