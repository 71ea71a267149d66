"""Replacing stored rows whole, safely and all at once: Milvus 2.3.5's upsert breaks the
partition key, and Milvus has no transactions.

Measured on the embedded 2.3.5 server: rows written by upsert land in partitions other than
their cluster's hash, so a search or count pruned by `cluster in [...]` misses them (120
rows upserted in 6 clusters: 16 found by their clusters afterwards). So a row is replaced
by delete then insert, which route correctly.

A rewrite is all or nothing, however many batches it takes, by a redo log kept in the
collection itself:
1. every new row is first *stashed*: written as a row of cluster PENDING (never read as an
   image: every image read asks for cluster >= 0), keyed by a hash of the rewrite's
   number and the id, holding the new row in its payload;
2. one *commit* row (cluster PENDING, id COMMIT + the rewrite's number) says the stash is
   whole;
3. the old rows are deleted and the new inserted, batch by batch;
4. the stash and the commit row are deleted.
recover() finishes what a crash interrupted: a rewrite with its commit row is rolled
forward (every stashed row replaces its id's row, which is idempotent); one without is
rolled back (its partial stash is deleted; no image was touched before the commit). Rows
of a rewrite younger than STALE_S belong to one still running (on any server) and are left
alone.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from lookalike.indexer.milvus.payloads import FIELD

if TYPE_CHECKING:
    from lookalike.indexer.milvus.store import MilvusVectors

logger = logging.getLogger(__name__)

PENDING = -2  # the cluster of stashed rows
BATCH = 2000
STALE_S = 120.0  # a stash older than this was left by a crash
COMMIT = "#lookalike-commit-"  # + the rewrite's number: its stash is whole


def stash_id(id_: str, tx: str = "") -> str:
    """The stashed row's id: short, since a batch's stash is written and deleted by id (ids
    padded past any user id's length, as the centroid rows' are, made a batch 8 MB). A user
    who gives exactly this id for some other image can only lose that image of theirs to
    the stash's deletion: every image read skips stashed rows."""
    return f"#lookalike-pending-{hashlib.sha256(f'{tx}/{id_}'.encode()).hexdigest()}"


def rewrite(store: MilvusVectors, ids: Sequence[str], paths: Sequence[str],
            clusters: np.ndarray, vectors: np.ndarray,
            payloads: Sequence[dict] | None) -> None:
    """Stores rows in place of any of the same ids, all or nothing (the module docstring)."""
    if not store.labelled():  # an older collection: no payload field to stash in
        for start in range(0, len(ids), BATCH):
            part = slice(start, start + BATCH)
            store.delete(list(ids[part]))
            store.insert(ids[part], paths[part], clusters[part], vectors[part], None)
        return
    given = list(payloads) if payloads is not None else [{}] * len(ids)
    tx, at = uuid.uuid4().hex, time.time()
    stashed = [stash_id(i, tx) for i in ids]
    for start in range(0, len(ids), BATCH):
        part = slice(start, start + BATCH)
        kept = [{"id": i, "cluster": int(c), "payload": p, "at": at, "tx": tx}
                for i, c, p in zip(ids[part], clusters[part], given[part], strict=True)]
        store.insert(stashed[part], paths[part], np.full(len(kept), PENDING), vectors[part],
                     kept)
    store.insert([COMMIT + tx], [""], np.full(1, PENDING), np.zeros((1, store.dim), np.float32),
                 [{"tx": tx, "commit": True, "at": at, "rows": len(ids)}])
    for start in range(0, len(ids), BATCH):
        part = slice(start, start + BATCH)
        store.delete(list(ids[part]))
        store.insert(ids[part], paths[part], clusters[part], vectors[part], given[part])
    store.delete(stashed + [COMMIT + tx])


def recover(store: MilvusVectors, stale_s: float = STALE_S) -> int:
    """Finishes or undoes rewrites a crash interrupted; returns how many rows it rewrote."""
    if not store.labelled():
        return 0
    now = time.time()
    old = [r for r in store.stashed() if now - float(r[FIELD].get("at", 0)) > stale_s]
    if not old:
        return 0
    committed = {r[FIELD].get("tx") for r in old if r[FIELD].get("commit")}
    # Rows stashed before rewrites had commit rows (no "tx") went batch by batch: finished.
    forward = [r for r in old if not r[FIELD].get("commit")
               and (r[FIELD].get("tx") in committed or "tx" not in r[FIELD])]
    _replace(store, forward)
    store.delete([r["id"] for r in old])
    logger.warning("finished rewrites a crash interrupted: %d rows rewritten, %d stashed rows "
                   "of unfinished ones dropped", len(forward), len(old) - len(forward))
    return len(forward)


def _replace(store: MilvusVectors, stashed: list[dict[str, Any]]) -> None:
    """Puts each stashed row in place of its id's row (delete, then insert)."""
    latest: dict[str, dict[str, Any]] = {}
    for r in sorted(stashed, key=lambda r: float(r[FIELD].get("at", 0))):
        latest[r[FIELD]["id"]] = r  # the same id in two rewrites: the later one wins
    rows = list(latest.values())
    for start in range(0, len(rows), BATCH):
        part = rows[start:start + BATCH]
        ids = [r[FIELD]["id"] for r in part]
        store.delete(ids)
        store.insert(ids, [r["path"] for r in part],
                     np.array([r[FIELD]["cluster"] for r in part], np.int64),
                     np.asarray([r["vector"] for r in part], np.float32),
                     [r[FIELD]["payload"] for r in part])
