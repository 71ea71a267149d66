"""`lookalike duplicates`: every group of near-duplicate images in a collection folder."""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
from pathlib import Path

from lookalike.app.flags import DEFAULT_TARGET, add_connection_args, connect, positive_int
from lookalike.common.errors import InvalidArgument


def cmd_duplicates(args: argparse.Namespace) -> int:
    from lookalike.common.atomic import atomic_write_bytes
    from lookalike.present.duplicates_sheet import counted

    preset = "strict" if args.strict else "loose" if args.loose else None
    if args.collection and args.target:
        raise InvalidArgument("give a collection folder or --target HOST:PORT, not both")
    served = not args.collection
    threshold, records = (_from_server(args, preset) if served
                          else _from_folder(args, preset))
    if args.out:
        atomic_write_bytes(args.out, _encode(records, Path(args.out).suffix.lower()))
    groups = {r["group"]: [] for r in records}
    for r in records:
        groups[r["group"]].append(r["exact"])
    exact = sum(all(flags) for flags in groups.values())
    print(f"{counted(len(groups), 'group')} ({exact} of exact copies only), "
          f"{counted(len(records), 'image')}, threshold {threshold:.4g}"
          + (f" -> {args.out}" if args.out else ""))
    if not args.out:
        for r in records:
            mark = "*" if r["representative"] else " "
            print(f"{r['group']:5d} {mark} {r['id']:>12}  d={r['distance']:<9.3g}"
                  f"{' exact' if r['exact'] and not r['representative'] else '      '} "
                  f"{r['path']}")
    if args.contact_sheet:
        from lookalike.present.duplicates_sheet import write_duplicates_sheet

        # Through a server the files are not ours to read: every picture is a placeholder
        # until the server can send thumbnails.
        page = write_duplicates_sheet(records, args.contact_sheet, threshold,
                                      pictures=not served)
        print(f"contact sheet -> {page}")
    return 0


def _from_folder(args: argparse.Namespace, preset: str | None) -> tuple[float, list[dict]]:
    from lookalike.indexer.calibration import resolve
    from lookalike.indexer.copies import collection_groups, group_records, stored_calibration
    from lookalike.indexer.opener import open_collection

    collection = open_collection(args.collection, read_only=True)  # beside a running server
    try:
        threshold = resolve(stored_calibration(collection), args.threshold, preset)
        found = collection_groups(collection, threshold, args.nprobe,
                                  read_files=not args.no_read_files)
    finally:
        collection.close()
    return threshold, group_records(found)


def _from_server(args: argparse.Namespace, preset: str | None) -> tuple[float, list[dict]]:
    """The groups FindDuplicates streams, as the folder mode's records."""
    args.target = args.target or DEFAULT_TARGET
    records: list[dict] = []
    threshold = args.threshold
    with connect(args) as client:
        for group in client.find_duplicates(args.threshold, preset=preset, nprobe=args.nprobe,
                                            read_files=not args.no_read_files):
            threshold = group.threshold
            records += [{"group": group.group, "id": m.id, "path": m.path,
                         "distance": m.distance, "representative": m.representative,
                         "exact": m.exact, "group_size": len(group.members)}
                        for m in group.members]
        if threshold is None:  # no group, so none said it: the preset's calibrated one
            calibration = client.info().duplicate_calibration
            threshold = getattr(calibration, preset or "threshold", math.nan)
    return threshold, records


def _encode(records: list[dict], suffix: str) -> bytes:
    from lookalike.indexer.copies import FIELDS

    if suffix == ".csv":
        text = io.StringIO()
        writer = csv.DictWriter(text, FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        return text.getvalue().encode("utf-8", "surrogateescape")
    return "".join(json.dumps(r, ensure_ascii=True) + "\n" for r in records).encode()


def _threshold(value: str) -> float:
    """An argparse type: a number (its meaning is checked against the collection later)."""
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {value!r}") from None


def duplicates_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("collection", nargs="?",
                   help="the collection folder (read only: it may be served); without it, "
                        "the server at --target is asked")
    add_connection_args(p, sends_images=False)
    p.set_defaults(target=None)  # a folder, or --target (default 127.0.0.1:50051) without one
    which = p.add_mutually_exclusive_group()
    which.add_argument("--threshold", type=_threshold,
                       help="largest squared distance of a near pair (default: the one the "
                            "build calibrated)")
    which.add_argument("--strict", action="store_true",
                       help="the calibrated strict threshold: fewer, surer groups")
    which.add_argument("--loose", action="store_true",
                       help="the calibrated loose threshold: more edited copies found")
    p.add_argument("--out", help="write the groups as .jsonl (default) or .csv, one row per "
                                 "member; without it they are printed")
    p.add_argument("--contact-sheet", metavar="HTML", help="also write a page of the groups")
    p.add_argument("--nprobe", type=positive_int, default=None,
                   help="clusters searched around each image (default: the collection's)")
    p.add_argument("--no-read-files", action="store_true",
                   help="do not read the image files (the server's, with --target): identical "
                        "vectors count as exact, the most central member represents a group")
