"""Which Milvus collection holds a collection's current clustering, and that clustering.

Users (and every lookalike server) address NAME, a Milvus alias. It points at one
*generation*: a Milvus collection NAME__gN holding every image with its cluster under one
clustering, that clustering's centroids (as rows with a negative cluster, which every image
read leaves out) and, in its description, its nlist and default nprobe. A recluster writes
generation N+1 beside N and moves the alias: one Milvus call swaps images, clusters and
centroids together, so a server that reads a generation's centroids from that generation
always routes with the centroids its collection was clustered by.

A collection built before generations existed is a plain Milvus collection NAME (generation
0, "legacy"): its centroids and nprobe are the folder's. Its first recluster drops it and
creates the alias NAME (Milvus refuses an alias named like a collection); a crash between
the two leaves neither, and then the newest *sealed* generation (marked just before any
switch) is the current one, for servers and for the next recluster alike.

While a recluster copies the last writes into the new generation, it *fences* the current
one: a collection property holding the time (Unix seconds) until which writers must wait.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

import faiss
import numpy as np

from lookalike.common.errors import CollectionError
from lookalike.indexer.clustering import make_quantizer
from lookalike.indexer.milvus.address import milvus_errors
from lookalike.indexer.milvus.store import MilvusVectors

logger = logging.getLogger(__name__)

SEPARATOR = "__g"
CENTROID_CLUSTER = -1
FENCE = "lookalike.fence"  # Unix time until which writes to this generation must wait
SEALED = "lookalike.sealed"  # "1": complete, a recluster may switch to it
SIZES = "lookalike.sizes"  # images per cluster when switched to, JSON (indexer/milvus/sizes.py)
MARK = "lookalike"  # the description's key


@dataclass(frozen=True)
class Generation:
    """One clustering of a collection and the Milvus collection that holds it."""

    name: str  # the Milvus collection (never the alias)
    number: int
    centroids: np.ndarray
    default_nprobe: int
    legacy: bool = False  # a plain collection NAME, clustered by the folder's centroids
    sizes: tuple[int, ...] | None = None  # images per cluster at the switch, if recorded
    quantizer: faiss.IndexFlatL2 = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "quantizer", make_quantizer(self.centroids))

    @property
    def nlist(self) -> int:
        return len(self.centroids)


def generation_name(base: str, number: int) -> str:
    return f"{base}{SEPARATOR}{number}"


def centroid_id(cluster: int) -> str:
    """Longer than any id a user may give (4,096 characters), so never one of theirs."""
    tag = f"#lookalike-centroid-{cluster}"
    return tag + "." * (4097 - len(tag))


def describe(vectors: MilvusVectors, name: str) -> dict[str, Any] | None:
    """Milvus's description of a collection or alias, or None if there is no such thing."""
    from lookalike.indexer.milvus.address import GenerationGone

    try:
        with milvus_errors(vectors.address):
            # Asked first: pymilvus logs a failed describe as an ERROR with a traceback.
            if not vectors.client.has_collection(name):  # True for an alias too
                return None
            return dict(vectors.client.describe_collection(name))
    except GenerationGone:  # dropped in between
        return None


def fenced_until(description: dict[str, Any]) -> float:
    try:
        return float(description.get("properties", {}).get(FENCE, 0) or 0)
    except ValueError:
        return 0.0


def _settings(description: dict[str, Any]) -> dict[str, int] | None:
    try:
        mark = json.loads(description.get("description") or "{}").get(MARK)
    except (ValueError, AttributeError):
        return None
    return mark if isinstance(mark, dict) else None


def generations(vectors: MilvusVectors) -> dict[int, str]:
    """Every generation collection of the collection, by number."""
    base = vectors.address.name
    pattern = re.compile(re.escape(base + SEPARATOR) + r"(\d+)")
    with milvus_errors(vectors.address):
        names = vectors.client.list_collections()
    return {int(m.group(1)): n for n in names if (m := pattern.fullmatch(n))}


def current_name(vectors: MilvusVectors) -> tuple[str, dict[str, Any]] | None:
    """The Milvus collection NAME denotes now, with its description; None if none does."""
    found = describe(vectors, vectors.address.name)
    if found is not None:
        return found["collection_name"], found
    for number in sorted(generations(vectors), reverse=True):  # mid-switch after a crash
        name = generation_name(vectors.address.name, number)
        about = describe(vectors, name)
        if about is not None and about.get("properties", {}).get(SEALED) == "1":
            return name, about
    return None


def read_generation(vectors: MilvusVectors, legacy_centroids: np.ndarray,
                    legacy_nprobe: int) -> Generation:
    """The current generation with its centroids, read from Milvus.

    Raises:
        CollectionError: Milvus holds no such collection, or a generation lacks centroids.
        Unavailable: Milvus is unreachable.
    """
    found = current_name(vectors)
    if found is None:
        raise CollectionError(f"Milvus at {vectors.address.uri} has no collection "
                              f"{vectors.address.name!r}")
    name, about = found
    settings = _settings(about)
    if settings is None:
        return Generation(name, 0, legacy_centroids, legacy_nprobe, legacy=True)
    centroids = read_centroids(vectors.at(name), int(settings["nlist"]))
    return Generation(name, int(settings["generation"]), centroids,
                      int(settings["default_nprobe"]), sizes=_sizes(about))


def _sizes(description: dict[str, Any]) -> tuple[int, ...] | None:
    try:
        found = json.loads(description.get("properties", {}).get(SIZES) or "null")
        return tuple(int(n) for n in found) if isinstance(found, list) else None
    except (ValueError, TypeError):
        return None


def read_centroids(view: MilvusVectors, nlist: int) -> np.ndarray:
    with milvus_errors(view.address):
        rows = view.client.query(view.name, filter=f"cluster == {CENTROID_CLUSTER}",
                                 output_fields=["path", "vector"], limit=max(nlist, 1),
                                 consistency_level="Strong")
    by_cluster = {int(r["path"]): r["vector"] for r in rows}
    if sorted(by_cluster) != list(range(nlist)):
        raise CollectionError(f"Milvus collection {view.name!r} holds {len(by_cluster)} of "
                              f"its {nlist} centroids")
    return np.asarray([by_cluster[c] for c in range(nlist)], np.float32)


def create_generation(vectors: MilvusVectors, number: int, centroids: np.ndarray,
                      default_nprobe: int) -> MilvusVectors:
    """Creates generation number's Milvus collection holding its centroids; returns it."""
    view = vectors.at(generation_name(vectors.address.name, number))
    mark = {MARK: {"generation": number, "nlist": len(centroids),
                   "default_nprobe": int(default_nprobe)}}
    view.create(len(centroids), json.dumps(mark))
    nlist = len(centroids)
    view.insert([centroid_id(c) for c in range(nlist)], [str(c) for c in range(nlist)],
                np.full(nlist, CENTROID_CLUSTER), np.asarray(centroids, np.float32))
    return view


def set_property(vectors: MilvusVectors, name: str, key: str, value: str) -> None:
    # Milvus 2.3 cannot drop a property: a fence is lifted by setting it to 0.
    with milvus_errors(vectors.address):
        vectors.client.alter_collection_properties(name, properties={key: value})


def fence(vectors: MilvusVectors, name: str, seconds: float) -> float:
    """Makes writers to name wait for up to seconds; returns when the fence ends."""
    until = time.time() + seconds
    set_property(vectors, name, FENCE, f"{until:.3f}")
    return until


def switch(vectors: MilvusVectors, old: Generation | None, new: str,
           grace_s: float = 0.0, sizes: list[int] | None = None) -> None:
    """Points NAME at the sealed generation new; grace_s later, drops the old one.

    sizes, the images in each of new's clusters, are left on it for servers to start from
    when they move onto it, instead of counting every cluster (indexer/milvus/sizes.py).

    The grace lets servers still on the old generation notice the switch (they look every
    REFRESH_S) before it goes: a search already running on a collection as it is dropped
    can come back empty rather than fail. A legacy collection NAME is first renamed to
    generation 0 (an alias may not share a collection's name): between the two calls NAME
    is nothing, and current_name() finds the sealed generation.
    """
    base = vectors.address.name
    if sizes is not None:
        set_property(vectors, new, SIZES, json.dumps([int(n) for n in sizes]))
    set_property(vectors, new, SEALED, "1")
    retired = None if old is None else old.name
    with milvus_errors(vectors.address):
        if old is not None and old.legacy:
            retired = generation_name(base, 0)
            vectors.client.rename_collection(old.name, retired)
        if describe(vectors, base) is None:
            vectors.client.create_alias(new, base)
        else:
            vectors.client.alter_alias(new, base)
    logger.info("%s now points at %s", base, new)
    if retired is not None:
        time.sleep(grace_s)
        vectors.at(retired).drop()
