"""`lookalike add`, `delete`, `recluster` and `report`: changing and inspecting a collection."""

from __future__ import annotations

import argparse
import sys

from lookalike.app.flags import add_connection_args, clusters_arg, connect, positive_int


def cmd_add(args: argparse.Namespace) -> int:
    from lookalike.clients.bulk_add import add_from_manifest

    with connect(args) as client:
        # One folder, image or manifest as itself; several as a list, rows in their order.
        images = args.images[0] if len(args.images) == 1 else args.images
        result = add_from_manifest(client, images, args.ids, progress=True)
    for query, message in result.refused[:20]:
        print(f"not added {query}: {message}", file=sys.stderr)
    print(f"added {result.added} images, {len(result.refused)} refused")
    return 1 if result.refused else 0


def cmd_delete(args: argparse.Namespace) -> int:
    with connect(args) as client:
        deleted, missing = client.delete(args.ids)
    print(f"deleted {deleted} images" + (f"; not found: {' '.join(missing)}" if missing else ""))
    return 1 if missing else 0


def cmd_recluster(args: argparse.Namespace) -> int:
    from lookalike.indexer.opener import open_collection
    from lookalike.indexer.recluster import ReclusterConfig

    clusters = None if args.clusters is None else 0 if args.clusters == "auto" else int(
        args.clusters)
    config = ReclusterConfig(clusters=clusters, seed=args.seed, map=not args.no_map)
    collection = open_collection(args.collection)
    try:
        collection.lock_exclusive()
        report = collection.recluster(config, progress=True)
    finally:
        collection.close()
    print(f"reclustered {args.collection}: {report.images} images, clusters "
          f"{report.clusters_before} -> {report.clusters_after}, imbalance "
          f"{report.imbalance_before:.2f} -> {report.imbalance_after:.2f}, default nprobe "
          f"{report.default_nprobe}, {report.seconds:.1f}s")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from lookalike.indexer.opener import open_collection
    from lookalike.present.report import ReportConfig, write_report

    collection = open_collection(args.collection, read_only=True)  # beside a running server
    try:
        config = ReportConfig(tsne_sample=args.tsne_sample, per_cluster=args.per_cluster,
                              seed=args.seed)
        written = write_report(collection, args.out, config, labels_csv=args.export_labels)
    finally:
        collection.close()
    print(f"report -> {written.html}" + (f"; labels -> {args.export_labels}"
                                         if args.export_labels else ""))
    return 0


def add_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", nargs="+", metavar="IMAGES",
                   help="images, folders, or .txt/.csv/.jsonl manifests (optional id column)")
    add_connection_args(p)
    p.add_argument("--ids", nargs="+", help="one id per image, in order (default: the "
                                            "manifest's id column, else numbers)")


def delete_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("ids", nargs="+", help="ids to delete")
    add_connection_args(p, sends_images=False)


def recluster_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("collection", help="the collection folder (a local one must not be being "
                                      "served; a Milvus one may be)")
    p.add_argument("--clusters", type=clusters_arg, default=None,
                   help="K, or 'auto' to choose by silhouette (default: keep the current K)")
    p.add_argument("--seed", type=int, default=0, help="KMeans seed")
    p.add_argument("--no-map", action="store_true",
                   help="keep the old 2-D map (its points take their new clusters) instead of "
                        "recomputing it; `lookalike map DIR` recomputes it later")


def report_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("collection", help="the collection folder")
    p.add_argument("--out", required=True, help="the folder to write the report into")
    p.add_argument("--export-labels", metavar="CSV", help="also write id,path,cluster rows")
    p.add_argument("--tsne-sample", type=positive_int, default=3000,
                   help="most points in the t-SNE plot (default 3000)")
    p.add_argument("--per-cluster", type=positive_int, default=8,
                   help="sample images per cluster in the montage (default 8)")
    p.add_argument("--seed", type=int, default=0, help="sampling and t-SNE seed")
