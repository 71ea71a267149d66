"""Replacing stored rows whole, safely: Milvus 2.3.5's upsert breaks the partition key.

Measured on the embedded 2.3.5 server: rows written by upsert land in partitions other than
their cluster's hash, so a search or count pruned by `cluster in [...]` misses them (120
rows upserted in 6 clusters: 16 found by their clusters afterwards). So a row is replaced
by delete then insert, which route correctly. Between the two a crash would lose the row,
so each batch is first *stashed*: written as rows of cluster PENDING (never read as images:
every image read asks for cluster >= 0), keyed by a hash of the id, holding the new row in
their payload. recover() finishes a batch a crash interrupted: it inserts every stashed row
whose id is missing, then deletes the stash. Stashes younger than STALE_S belong to a
rewrite still running (on any server) and are left alone.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from lookalike.indexer.milvus.payloads import FIELD

if TYPE_CHECKING:
    from lookalike.indexer.milvus.store import MilvusVectors

logger = logging.getLogger(__name__)

PENDING = -2  # the cluster of stashed rows
BATCH = 2000
STALE_S = 120.0  # a stash older than this was left by a crash


def stash_id(id_: str) -> str:
    """The stashed row's id: short, since a batch's stash is written and deleted by id (ids
    padded past any user id's length, as the centroid rows' are, made a batch 8 MB). A user
    who gives exactly this id for some other image can only lose that image of theirs to
    the stash's deletion: every image read skips stashed rows."""
    return f"#lookalike-pending-{hashlib.sha256(id_.encode()).hexdigest()}"


def rewrite(store: MilvusVectors, ids: Sequence[str], paths: Sequence[str],
            clusters: np.ndarray, vectors: np.ndarray,
            payloads: Sequence[dict] | None) -> None:
    """Stores rows in place of any of the same ids (stash, delete, insert, unstash)."""
    labelled = store.labelled()
    for start in range(0, len(ids), BATCH):
        part = slice(start, start + BATCH)
        given = list(payloads[part]) if payloads is not None else [{}] * len(ids[part])
        if labelled:
            at = time.time()
            kept = [{"id": i, "cluster": int(c), "payload": p, "at": at}
                    for i, c, p in zip(ids[part], clusters[part], given, strict=True)]
            store.insert([stash_id(i) for i in ids[part]], paths[part],
                         np.full(len(kept), PENDING), vectors[part], kept)
        store.delete(list(ids[part]))
        store.insert(ids[part], paths[part], clusters[part], vectors[part],
                     given if labelled else None)
        if labelled:
            store.delete([stash_id(i) for i in ids[part]])


def recover(store: MilvusVectors, stale_s: float = STALE_S) -> int:
    """Finishes rewrites a crash interrupted; returns how many rows it restored."""
    if not store.labelled():
        return 0
    with_stash = store.stashed()
    old = [r for r in with_stash if time.time() - float(r[FIELD].get("at", 0)) > stale_s]
    if not old:
        return 0
    wanted = {r[FIELD]["id"]: r for r in old}
    present = {r["id"] for r in store.find(list(wanted))}
    missing = [r for i, r in wanted.items() if i not in present]
    if missing:
        store.insert([r[FIELD]["id"] for r in missing], [r["path"] for r in missing],
                     np.array([r[FIELD]["cluster"] for r in missing], np.int64),
                     np.asarray([r["vector"] for r in missing], np.float32),
                     [r[FIELD]["payload"] for r in missing])
    store.delete([r["id"] for r in old])
    logger.warning("finished a rewrite a crash interrupted: %d rows restored, %d stashed "
                   "rows cleared", len(missing), len(old))
    return len(missing)
