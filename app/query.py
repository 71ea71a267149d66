"""`lookalike search`, `bulk` and `info`: asking a running server."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from lookalike.app.flags import add_connection_args, add_filter_args, connect, filter_from


def cmd_search(args: argparse.Namespace) -> int:
    if not args.image and not args.id:
        raise SystemExit("lookalike search: give an IMAGE or --id")
    wanted = filter_from(args)
    with connect(args) as client:
        if args.id:
            result = client.search(id=args.id, k=args.k, nprobe=args.nprobe, filter=wanted)
        else:
            result = client.search(args.image, k=args.k, nprobe=args.nprobe, filter=wanted)
    if args.plot:
        client.plot(result, args.plot, columns=args.plot_columns)
    if args.json:
        print(json.dumps({"cluster": result.cluster, "cluster_name": result.cluster_name,
                          "neighbors": [asdict(n) for n in result.neighbors]}))
    else:
        from lookalike.present.plot import distance_text

        name = f" ({result.cluster_name})" if result.cluster_name else ""
        print(f"query cluster {result.cluster}{name}")
        for rank, n in enumerate(result.neighbors, 1):
            labels = f" [{', '.join(n.labels)}]" if n.labels else ""
            print(f"{rank:3d}. {n.id:>10}  d={distance_text(n.distance):<10} "
                  f"cluster={n.cluster:<4} {n.path}{labels}")
    return 0


def cmd_bulk(args: argparse.Namespace) -> int:
    from lookalike.clients.bulk import BulkConfig, run_bulk

    config = BulkConfig(k=args.k, nprobe=args.nprobe, concurrency=args.concurrency,
                        window=args.window, workers=args.workers, resume=args.resume,
                        overwrite=args.overwrite, progress=not args.quiet,
                        filter=filter_from(args))
    with connect(args, retries=args.retries) as client:
        summary = run_bulk(args.manifest, client, args.out, config)
    if args.resume and summary.rows == 0 and summary.skipped == summary.total:
        print(f"{args.out} already holds all {summary.total} rows; nothing to do")
    else:
        print(f"{summary.rows} rows, {summary.errors} errors, {summary.rate:.0f} rows/s "
              f"in {summary.seconds:.1f}s -> {args.out}"
              + (f" ({summary.skipped} rows were already done)" if summary.skipped else ""))
    if args.contact_sheet:
        from lookalike.clients.bulk_output import read_rows
        from lookalike.present.contact_sheet import write_contact_sheet

        sheet = write_contact_sheet(read_rows(args.out), args.out, args.contact_sheet,
                                    args.manifest)
        print(f"contact sheet -> {sheet}")
    return 1 if args.fail_on_error and summary.total_errors else 0


def cmd_info(args: argparse.Namespace) -> int:
    with connect(args) as client:
        print(json.dumps(asdict(client.info()), indent=2))
    return 0


def search_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", nargs="?", help="a path or URL (or use --id)")
    p.add_argument("--id", help="search by the id of a stored image")
    add_connection_args(p)
    p.add_argument("-k", type=int, default=10, help="neighbours wanted (default 10)")
    p.add_argument("--nprobe", type=int, default=None, help="clusters to scan")
    add_filter_args(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--plot", help="write a PNG of the query beside its neighbours")
    p.add_argument("--plot-columns", type=int, default=6, help="images per row of the plot")


def bulk_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("manifest", help="a folder, an image, or a .txt/.csv/.jsonl manifest")
    add_connection_args(p)
    p.add_argument("--out", required=True, help="results.jsonl or results.csv")
    p.add_argument("-k", type=int, default=10, help="neighbours per row (default 10)")
    p.add_argument("--nprobe", type=int, default=None, help="clusters to scan")
    p.add_argument("--resume", action="store_true", help="continue an interrupted --out")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--concurrency", type=int, default=2, help="parallel streams (default 2)")
    p.add_argument("--window", type=int, default=64, help="rows in flight per stream")
    p.add_argument("--workers", type=int, default=None,
                   help="processes reading and downsizing images (default: one per core)")
    p.add_argument("--retries", type=int, default=7,
                   help="tries again after the server becomes unavailable (default 7, ~15 s)")
    p.add_argument("--fail-on-error", action="store_true", help="exit 1 if any row failed")
    add_filter_args(p, prefix="filter-")
    p.add_argument("--contact-sheet", help="write an HTML page of every row's neighbours")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def info_flags(p: argparse.ArgumentParser) -> None:
    add_connection_args(p, sends_images=False)
