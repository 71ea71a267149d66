"""The `lookalike` command: a table of subcommands, each a plain function over parsed flags."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from typing import NamedTuple

from lookalike.app import build, demo, duplicates, index, labels, mapping, query, serve, ui
from lookalike.common.errors import LookalikeError
from lookalike.common.manifest_payload import ManifestError


class Command(NamedTuple):
    """One subcommand: what it runs, the flags it takes, and its one-line help."""

    run: Callable[[argparse.Namespace], int]
    flags: Callable[[argparse.ArgumentParser], None]
    help: str
    epilog: str | None = None


# Heavy imports (JAX, Faiss, the server) wait inside each command's function.
COMMANDS: dict[str, Command] = {
    "build": Command(build.cmd_build, build.build_flags,
                     "train, embed, cluster and index a folder or manifest"),
    "train": Command(build.cmd_train, build.train_flags,
                     "train an autoencoder and save it as a model folder"),
    "embed": Command(build.cmd_embed, build.embed_flags,
                     "write the embeddings of images to an .npz file"),
    "serve": Command(serve.cmd_serve, serve.serve_flags, "serve a collection over gRPC",
                     serve.SERVE_EPILOG),
    "ui": Command(ui.cmd_ui, ui.ui_flags, "the web app: search, clusters, map and labels "
                  "in a browser", ui.UI_EPILOG),
    "search": Command(query.cmd_search, query.search_flags,
                      "find the images most like one image"),
    "bulk": Command(query.cmd_bulk, query.bulk_flags, "search every image of a manifest"),
    "info": Command(query.cmd_info, query.info_flags, "describe the served collection"),
    "add": Command(index.cmd_add, index.add_flags,
                   "add images to a served collection (no rebuild)"),
    "delete": Command(index.cmd_delete, index.delete_flags,
                      "delete images by id from a served collection"),
    "label": Command(labels.cmd_label, labels.label_flags,
                     "add or remove labels on ids, a cluster or a filter's matches"),
    "attr": Command(labels.cmd_attr, labels.attr_flags,
                    "set or clear attributes on ids, a cluster or a filter's matches"),
    "cluster": Command(labels.cmd_cluster, labels.cluster_flags, "name a cluster"),
    "browse": Command(labels.cmd_browse, labels.browse_flags,
                      "list stored images (all, or a filter's matches)"),
    "count": Command(labels.cmd_count, labels.count_flags, "count a filter's matches"),
    "labels": Command(labels.cmd_labels, labels.labels_flags,
                      "export labels and attributes to CSV/JSONL, or import them back"),
    "recluster": Command(index.cmd_recluster, index.recluster_flags,
                         "re-run KMeans on a collection's current vectors"),
    "map": Command(mapping.cmd_map, mapping.map_flags,
                   "compute the 2-D map of a collection that the Map call serves"),
    "report": Command(index.cmd_report, index.report_flags,
                      "plots and an HTML page about a collection's clusters"),
    "duplicates": Command(duplicates.cmd_duplicates, duplicates.duplicates_flags,
                          "find every group of near-duplicate images in a collection"),
    "demo": Command(demo.cmd_demo, demo.demo_flags,
                    "build, serve and query bundled MNIST digits end to end"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lookalike", description="Image-similarity search.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in COMMANDS.items():
        p = sub.add_parser(name, help=command.help, epilog=command.epilog,
                           formatter_class=argparse.RawDescriptionHelpFormatter
                           if command.epilog else argparse.HelpFormatter)
        command.flags(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for stream in (sys.stdout, sys.stderr):
        # A non-UTF-8 file name is a surrogate-escaped str: show its bytes as escapes
        # rather than die printing a message about it.
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The device JAX uses (build, train, embed, serve, demo), said even without --verbose.
    logging.getLogger("lookalike.encoder.device").setLevel(logging.INFO)
    # faiss says at INFO which of its builds failed to load before the one that did.
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    try:
        return COMMANDS[args.command].run(args)
    except ManifestError as exc:  # like a bad argument: nothing was done
        print(f"lookalike {args.command}: {exc}", file=sys.stderr)
        return 2
    except LookalikeError as exc:
        print(f"lookalike {args.command}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a port in use, a full disk, a folder we may not write
        print(f"lookalike {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
