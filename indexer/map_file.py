"""The collection map kept in the collection folder (map.npz): every mapped id's 2-D position
and the map's version; written atomically, read with every part checked."""

from __future__ import annotations

import io
import json
import logging
import time
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lookalike.common.atomic import atomic_write_bytes
from lookalike.common.errors import CollectionError, InvalidArgument, NoMap
from lookalike.indexer.interface import CollectionLike
from lookalike.indexer.map_compute import MapConfig, compute_map

logger = logging.getLogger(__name__)

MAP_FILE = "map.npz"  # beside the manifest; not checksummed by it: recomputing rewrites it
PAGE = 1000  # the most a browse page holds


@dataclass(frozen=True)
class CollectionMap:
    """ids[i] is at xy[i]; version names this computation (a new one each time)."""

    ids: list[str]
    xy: np.ndarray  # (n, 2) float32
    version: str
    seconds: float = 0.0  # how long computing it took

    def __post_init__(self) -> None:
        if self.xy.shape != (len(self.ids), 2):
            raise ValueError(f"{len(self.ids)} ids but coordinates of shape {self.xy.shape}")


def no_map_message(folder: Path | str) -> str:
    return (f"this collection has no map yet: run `lookalike map {folder}` (collections built "
            "before maps existed have none; a build or recluster makes one)")


def write_map(folder: Path, found: CollectionMap) -> Path:
    """Writes found as folder/map.npz, atomically (a crash leaves the old map or the new)."""
    ids = json.dumps(found.ids, ensure_ascii=False).encode("utf-8")
    buffer = io.BytesIO()
    np.savez(buffer, ids=np.frombuffer(ids, np.uint8), xy=found.xy.astype(np.float32),
             version=np.frombuffer(found.version.encode("ascii"), np.uint8),
             seconds=np.float64(found.seconds))
    path = Path(folder) / MAP_FILE
    atomic_write_bytes(path, buffer.getvalue())
    return path


def read_map(folder: Path) -> CollectionMap:
    """The map kept in folder.

    Raises:
        NoMap: the folder has no map file.
        CollectionError: a map file that is damaged (run `lookalike map` again).
    """
    path = Path(folder) / MAP_FILE
    try:
        with np.load(path, allow_pickle=False) as data:
            ids = json.loads(data["ids"].tobytes().decode("utf-8"))
            xy = np.asarray(data["xy"], np.float32)
            version = data["version"].tobytes().decode("ascii")
            seconds = float(data["seconds"])
    except FileNotFoundError:
        raise NoMap(no_map_message(folder)) from None
    except (OSError, KeyError, ValueError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
        raise CollectionError(f"{path} is damaged ({exc}); run `lookalike map {folder}` to "
                              "compute it again") from None
    if (not isinstance(ids, list) or not all(isinstance(i, str) for i in ids)
            or xy.shape != (len(ids), 2) or not np.isfinite(xy).all() or not version
            or len(set(ids)) != len(ids)):
        raise CollectionError(f"{path} is damaged (its ids and coordinates do not agree); "
                              f"run `lookalike map {folder}` to compute it again")
    return CollectionMap(ids, xy, version, seconds)


def stored_vectors(collection: CollectionLike) -> tuple[list[str], np.ndarray]:
    """Every stored image's id and vector, page by page, in row order."""
    ids: list[str] = []
    vectors: list[np.ndarray] = []
    token = ""
    while True:
        page = collection.browse(None, PAGE, token, with_vectors=True)
        for item in page.items:
            ids.append(item.row.id)
            vectors.append(item.vector)
        if not page.next_token:
            break
        token = page.next_token
    dim = collection.describe().embedding_dim
    return ids, (np.stack(vectors).astype(np.float32) if vectors
                 else np.empty((0, dim), np.float32))


def refresh_map(collection: CollectionLike, folder: Path, config: MapConfig | None = None,
                progress: bool = False) -> CollectionMap:
    """Computes the map of every image stored now and writes it into folder (a new version);
    progress shows a bar over t-SNE's iterations.

    Raises:
        InvalidArgument: the collection is empty (a map of nothing says nothing).
    """
    start = time.perf_counter()
    ids, vectors = stored_vectors(collection)
    if not ids:
        raise InvalidArgument(f"{folder} holds no images: there is nothing to map")
    read_s = time.perf_counter() - start
    xy = compute_map(vectors, config or MapConfig(), progress)
    found = CollectionMap(ids, xy, uuid.uuid4().hex, round(time.perf_counter() - start, 2))
    write_map(folder, found)
    logger.info("mapped %d images of %s in %.1f s (reading them: %.1f s)", len(ids), folder,
                found.seconds, read_s)
    return found
