"""`lookalike label`, `attr`, `cluster`, `browse`, `count` and `labels`: organising a served
collection's images."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from lookalike.app.flags import (
    add_connection_args,
    add_filter_args,
    attr_assignment,
    connect,
    filter_from,
    positive_int,
)


def _target(args: argparse.Namespace) -> dict:
    """ids=, cluster= or filter= of an update, from --ids, a lone --cluster, or filter flags."""
    wanted = filter_from(args)
    if args.ids:
        if wanted is not None:
            raise SystemExit(f"lookalike {args.command}: give --ids or filter flags, not both")
        return {"ids": args.ids}
    if wanted is None:
        raise SystemExit(f"lookalike {args.command}: say which images: --ids, --cluster N or "
                         "filter flags (--label, --attr, ...)")
    only_cluster = filter_from(argparse.Namespace(**{**vars(args), "f_cluster": []})) is None
    if only_cluster and len(args.f_cluster) == 1:
        return {"cluster": args.f_cluster[0]}
    return {"filter": wanted}


def _report(args: argparse.Namespace, **change: object) -> int:
    with connect(args) as client:
        done = client.update(**_target(args), **change)
    print(f"updated {done.updated} images" + (f"; not found: {' '.join(done.missing)}"
                                               if done.missing else ""))
    return 1 if done.missing else 0


def cmd_label(args: argparse.Namespace) -> int:
    key = "add_labels" if args.action == "add" else "remove_labels"
    return _report(args, **{key: args.labels})


def cmd_attr(args: argparse.Namespace) -> int:
    attr_values(args)
    if args.action == "set":
        return _report(args, set_attributes=dict(args.values))
    return _report(args, clear_attributes=args.values)


def cmd_cluster(args: argparse.Namespace) -> int:
    with connect(args) as client:
        previous = client.name_cluster(args.cluster, args.name)
    said = f"named {args.name!r}" if args.name.strip() else "unnamed"
    print(f"cluster {args.cluster} {said}" + (f" (was {previous!r})" if previous else ""))
    return 0


def cmd_browse(args: argparse.Namespace) -> int:
    shown = 0
    with connect(args) as client:
        for item in client.browse_all(filter_from(args), page_size=min(args.limit or 1000,
                                                                         1000)):
            if args.json:
                print(json.dumps(asdict(item), ensure_ascii=False))
            else:
                attrs = " ".join(f"{k}={v}" for k, v in item.attributes.items())
                name = f" ({item.cluster_name})" if item.cluster_name else ""
                print(f"{item.id:>10}  cluster={item.cluster}{name}  "
                      f"[{', '.join(item.labels)}] {attrs}  {item.path}")
            shown += 1
            if args.limit and shown >= args.limit:
                break
    return 0


def cmd_count(args: argparse.Namespace) -> int:
    with connect(args) as client:
        print(client.count(filter_from(args)))
    return 0


def cmd_labels(args: argparse.Namespace) -> int:
    from lookalike.clients.label_files import export_labels, import_labels

    if (args.action == "export") != bool(args.out) or (args.action == "import") != bool(
            args.file):
        raise SystemExit("lookalike labels: export takes --out FILE; import takes FILE")
    with connect(args) as client:
        if args.action == "export":
            rows = export_labels(client, args.out, filter_from(args), progress=True)
            print(f"{rows} rows -> {args.out}")
            return 0
        result = import_labels(client, args.file, dry_run=args.dry_run, split=args.split)
    for error in result.errors[:50]:
        print(f"{args.file}: {error}", file=sys.stderr)
    if result.errors:
        print(f"{len(result.errors)} bad rows; nothing was applied", file=sys.stderr)
        return 2
    verb = "would change" if args.dry_run else "changed"
    print(f"{verb} {result.changed} images and {result.names} cluster names "
          f"{'at once' if result.updates <= 1 else f'in {result.updates} parts'}; "
          f"{result.unchanged} already as the file says")
    return 0


def _update_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ids", nargs="+", help="these images")
    add_filter_args(p)  # a lone --cluster N is that cluster's members
    add_connection_args(p, sends_images=False)


def label_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["add", "remove"])
    p.add_argument("labels", nargs="+", help="labels to add or remove")
    _update_flags(p)


def attr_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["set", "clear"])
    p.add_argument("values", nargs="+", metavar="KEY[:number]=VALUE | KEY",
                   help="set: KEY=VALUE (text) or KEY:number=VALUE; clear: KEY")
    _update_flags(p)


def attr_values(args: argparse.Namespace) -> None:
    """Parses set's KEY=VALUE pairs in place (argparse cannot: clear takes bare keys)."""
    if args.action == "set":
        try:
            args.values = [attr_assignment(v) for v in args.values]
        except argparse.ArgumentTypeError as exc:
            raise SystemExit(f"lookalike attr set: {exc}") from None


def cluster_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["name"])
    p.add_argument("cluster", type=int, help="the cluster's number")
    p.add_argument("name", help="its name; \"\" clears it")
    add_connection_args(p, sends_images=False)


def browse_flags(p: argparse.ArgumentParser) -> None:
    add_filter_args(p)
    p.add_argument("--limit", type=positive_int, default=None, help="at most N images")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    add_connection_args(p, sends_images=False)


def count_flags(p: argparse.ArgumentParser) -> None:
    add_filter_args(p)
    add_connection_args(p, sends_images=False)


def labels_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["export", "import"])
    p.add_argument("file", nargs="?", help="import: the .csv or .jsonl file to apply")
    p.add_argument("--out", help="export: the .csv or .jsonl file to write")
    p.add_argument("--dry-run", action="store_true", help="import: check and count, change "
                                                          "nothing")
    p.add_argument("--split", action="store_true",
                   help="import: a file over one call's 100,000 rows goes in parts, each all "
                        "or nothing on its own (without: refused)")
    add_filter_args(p)
    add_connection_args(p, sends_images=False)
