"""Opening a collection folder as the store its manifest names: local files, or Milvus."""

from __future__ import annotations

from pathlib import Path

from lookalike.indexer.interface import CollectionLike
from lookalike.indexer.manifest import read_manifest


def open_collection(folder: str | Path, read_only: bool = False,
                    milvus_token: str | None = None, shared: bool = False) -> CollectionLike:
    """The collection in folder: Faiss plus SQLite, or the Milvus collection it names.

    milvus_token: for a Milvus collection, the token to connect with (default:
    $LOOKALIKE_MILVUS_TOKEN; the folder never holds one).
    shared: (local) one of a server group's processes, which all write the folder while the
    group's parent holds its FolderLock (Collection.open); a Milvus collection is shared
    by nature, so the flag changes nothing there.

    Raises:
        NotFound, CollectionError, CollectionMismatch: see read_manifest.
        CollectionLocked: (local, neither read_only nor shared) another process has it open
            for writing.
        Unavailable: (local, shared) no process holds the folder's lock.
        Unavailable: (Milvus) the server is unreachable.
    """
    from lookalike.indexer.milvus.collection import MilvusCollection
    from lookalike.indexer.milvus.folder import is_milvus_folder

    folder = Path(folder)
    manifest = read_manifest(folder)
    if is_milvus_folder(manifest):
        return MilvusCollection(folder, manifest, milvus_token, read_only)
    from lookalike.indexer.local.collection import Collection

    return Collection.open(folder, read_only, shared)
