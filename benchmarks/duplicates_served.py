"""Duplicates speed through the server (FindDuplicates over the SDK) and in Milvus mode, beside
the library on the same vectors in the same run (duplicates_bench.py --server / --milvus)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from lookalike.clients import Client
from lookalike.indexer.copies import collection_groups
from lookalike.indexer.opener import open_collection
from lookalike.server.config import ServerConfig
from lookalike.server.grpc_server import create_server


def through_server(folder: Path, threshold: float, nprobe: int) -> dict:
    """Seconds for every group through a server on folder (model load not counted), and
    the groups and images it sent."""
    running = create_server(folder, ServerConfig(port=0))
    try:
        with Client(f"127.0.0.1:{running.port}", timeout=3600) as client:
            start = time.perf_counter()
            groups = list(client.find_duplicates(threshold, nprobe=nprobe, read_files=False))
            seconds = time.perf_counter() - start
    finally:
        running.stop(grace_s=1)
    return {"server_s": round(seconds, 2), "server_groups": len(groups),
            "server_images": sum(len(g.members) for g in groups)}


def in_milvus(work: Path, model: Path, vectors: np.ndarray, clusters: int, threshold: float,
              nprobe: int) -> dict:
    """A Milvus-mode folder of the vectors on a fresh embedded Milvus server: every group
    through the library (vectors read from Milvus) and through a server."""
    from milvus_server import milvus_server
    from testbed import milvus_vectors_folder

    with milvus_server() as server:
        address = f"milvus://127.0.0.1:{server.listen_port}/dups_bench"
        start = time.perf_counter()
        folder = milvus_vectors_folder(work / "milvus", model, address, vectors, clusters)
        out: dict = {"milvus_load_s": round(time.perf_counter() - start, 1)}
        with open_collection(folder, read_only=True) as collection:
            start = time.perf_counter()
            collection.all_vectors()
            collection.rows()
            out["milvus_read_s"] = round(time.perf_counter() - start, 2)  # the reads alone
            start = time.perf_counter()
            found = collection_groups(collection, threshold, nprobe, read_files=False)
            out["milvus_library_s"] = round(time.perf_counter() - start, 2)
            out["milvus_groups"] = len(found)
        served = through_server(folder, threshold, nprobe)
        out.update({f"milvus_{k}": v for k, v in served.items()})
    return out
