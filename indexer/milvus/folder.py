"""A Milvus-mode collection's folder (model, build centroids, address) and its creation."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lookalike.common.errors import AlreadyExists, InvalidArgument
from lookalike.common.labels import Payload
from lookalike.indexer.checks import check_rows
from lookalike.indexer.clustering import make_quantizer, route
from lookalike.indexer.folder import ModelSource, refuse_existing, write_folder
from lookalike.indexer.manifest import Manifest
from lookalike.indexer.milvus.address import MilvusAddress, milvus_errors
from lookalike.indexer.milvus.generations import (
    create_generation,
    current_name,
    describe,
    generations,
    switch,
)
from lookalike.indexer.milvus.payloads import check_size, to_json
from lookalike.indexer.milvus.store import MilvusVectors, generated_ids

MILVUS_FILE = "milvus.json"  # the Milvus address, and the build's nlist and default nprobe
CENTROIDS_FILE = "centroids.npy"  # the build's centroids (generation 0 of a legacy collection)
TOKEN_ENV = "LOOKALIKE_MILVUS_TOKEN"


def is_milvus_folder(manifest: Manifest) -> bool:
    return MILVUS_FILE in manifest.checksums


def milvus_token(token: str | None = None) -> str:
    return token if token is not None else os.environ.get(TOKEN_ENV, "")


def create_milvus_collection(
    folder: Path, model: ModelSource, manifest: Manifest, vectors: np.ndarray,
    paths: list[str], ids: Sequence[str | None], centroids: np.ndarray, default_nprobe: int,
    address: MilvusAddress, token: str | None = None,
    extra_settings: dict[str, str] | None = None,
    payloads: Sequence[Payload] | None = None,
) -> None:
    """Creates generation 0 in Milvus, stores every image in it, then writes the folder.

    extra_settings: more settings for the folder's milvus.json (the duplicate calibration).
    payloads: each image's labels and attributes (a manifest's columns), checked by
        labels.check_payload; None: none.

    The alias NAME is created last, once the generation is whole; the folder appears whole
    or not at all (indexer/folder.py). If anything fails, the Milvus side is dropped again,
    so a retry starts clean.

    Raises:
        AlreadyExists: Milvus already has a collection or alias of that name.
        Unavailable: Milvus is unreachable or failed.
    """
    refuse_existing(folder)
    if payloads is not None:
        if len(payloads) != len(paths):
            raise InvalidArgument(f"{len(payloads)} payloads for {len(paths)} images")
        check_size(payloads)  # before Milvus is touched
    store = MilvusVectors(address, manifest.embedding_dim, milvus_token(token))
    try:
        _refuse_taken(store)
        generation = create_generation(store, 0, centroids, default_nprobe)
        try:
            fresh = iter(generated_ids(sum(i is None for i in ids)))
            final = [i if i is not None else next(fresh) for i in ids]
            clusters = route(vectors, make_quantizer(centroids))[:, 0]
            # Not flushed: acknowledged inserts are durable in Milvus's log, as an add's are,
            # and a flush cost 2.5 s of every build here while Milvus seals segments itself.
            generation.insert(final, check_rows(paths, list(ids)), clusters, vectors,
                              None if payloads is None else [to_json(p) for p in payloads])
            switch(store, None, generation.name)
            write_folder(folder, model, manifest,
                         lambda work: write_files(work, address, centroids, default_nprobe,
                                                  extra_settings))
        except BaseException:
            if describe(store, address.name) is not None:
                with milvus_errors(address):
                    store.client.drop_alias(address.name)
            generation.drop()
            raise
    finally:
        store.close()


def _refuse_taken(store: MilvusVectors) -> None:
    """Refuses a name in use; drops what a killed build left (generations never sealed)."""
    if current_name(store) is not None:
        raise AlreadyExists(f"Milvus at {store.address.uri} already has a collection "
                            f"{store.address.name!r}; choose another name or drop it")
    for name in generations(store).values():
        store.at(name).drop()


def write_files(work: Path, address: MilvusAddress, centroids: np.ndarray,
                 default_nprobe: int, extra_settings: dict[str, str] | None = None) -> list[str]:
    """Writes the folder's Milvus files; returns their names for the manifest's checksums."""
    np.save(work / CENTROIDS_FILE, np.ascontiguousarray(centroids, np.float32))
    settings = {"address": str(address), "nlist": len(centroids),
                "default_nprobe": int(default_nprobe), **(extra_settings or {})}
    (work / MILVUS_FILE).write_text(json.dumps(settings, indent=2))
    for name in (CENTROIDS_FILE, MILVUS_FILE):
        with open(work / name, "rb") as f:
            os.fsync(f.fileno())
    return [CENTROIDS_FILE, MILVUS_FILE]
