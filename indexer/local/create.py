"""Writing a new local collection folder: the model and the SQLite database, via folder.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lookalike.common.labels import Payload
from lookalike.indexer.clustering import assign
from lookalike.indexer.folder import ModelSource, write_folder
from lookalike.indexer.local.store import MetadataStore
from lookalike.indexer.manifest import DATABASE_FILE, Manifest


def write_collection(
    folder: Path, model: ModelSource, manifest: Manifest, vectors: np.ndarray,
    paths: list[str], ids: list[str | None], centroids: np.ndarray, default_nprobe: int,
    extra_settings: dict[str, str] | None = None, payloads: list[Payload] | None = None,
) -> None:
    """Writes a local collection (model, SQLite) the way write_folder writes any.

    extra_settings: more checksummed settings to store, as the duplicate calibration.
    payloads: checked labels and attributes, one per row, stored with their rows.
    """

    def write_store(work: Path) -> list[str]:
        _write_sqlite(work, vectors, paths, ids, centroids,
                      {"default_nprobe": str(default_nprobe), **(extra_settings or {})},
                      payloads)
        return []  # SQLite checks its own pages; the manifest checksums fixed files only

    write_folder(folder, model, manifest, write_store)


def _write_sqlite(work: Path, vectors: np.ndarray, paths: list[str], ids: list[str | None],
                  centroids: np.ndarray, new_settings: dict[str, str],
                  payloads: list[Payload] | None = None) -> None:
    store = MetadataStore(work / DATABASE_FILE, create=True)
    try:
        clusters = assign(vectors, centroids)
        rows = store.insert(ids, paths, clusters, vectors, payloads)
        rowids = np.array([r.rowid for r in rows], np.int64)
        store.set_clustering(centroids, rowids, clusters, new_settings)
    finally:
        store.close()
