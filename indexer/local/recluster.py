"""Re-running KMeans on a local collection's current vectors and swapping the result in
atomically."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from lookalike.common.errors import InvalidArgument
from lookalike.indexer.clustering import assign, choose_k, choose_nprobe, fit_kmeans, imbalance
from lookalike.indexer.map_file import refresh_map
from lookalike.indexer.recluster import ReclusterConfig, ReclusterReport, carry_names

if TYPE_CHECKING:
    from lookalike.indexer.local.collection import Collection

logger = logging.getLogger(__name__)


def recluster(
    collection: Collection, config: ReclusterConfig | None = None,
) -> ReclusterReport:
    """Fits new centroids to every stored vector and swaps them in with one transaction.

    Centroids, every row's cluster and the default nprobe change in a single SQLite
    transaction, so a crash at any moment leaves either the old clustering or the new one.
    Adds and deletes wait meanwhile; searches go on against the old clustering. Labels and
    attributes belong to rows and stay; cluster names follow carry_names, in the same
    transaction.
    """
    config = config or ReclusterConfig()
    clock = time.perf_counter()
    collection.lock_exclusive()
    with collection.writing():
        before = collection.cluster_sizes()
        rowids, old, vectors = collection.all_vectors()
        if len(vectors) == 0:
            raise InvalidArgument(f"{collection.folder} is empty: nothing to recluster")
        k = config.clusters if config.clusters is not None else len(before)
        if k == 0:
            k = choose_k(vectors, config.seed).k
        centroids, _ = fit_kmeans(vectors, min(k, len(vectors)), config.seed)
        clusters = assign(vectors, centroids)
        nprobe = choose_nprobe(vectors, centroids, config.target_recall, seed=config.seed)
        del vectors  # the swap reloads them, chunk by chunk
        names, moved, dropped = carry_names(collection.store.cluster_names(), old, clusters)
        collection.replace_clustering(centroids, rowids, clusters, nprobe, names)
        after = collection.cluster_sizes()
    # The map anew (a new version), with every image stored now: searches and adds go on.
    if config.map:
        refresh_map(collection, collection.folder)
    report = ReclusterReport(len(rowids), len(before), len(after), imbalance(before),
                             imbalance(after), nprobe, round(time.perf_counter() - clock, 2),
                             moved, dropped)
    logger.info("reclustered %s: %s", collection.folder, report)
    return report
