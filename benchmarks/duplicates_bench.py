"""Duplicates at scale: all groups of a 100K-image collection, through the library and a real
local collection folder (SQLite read included), on whatever cores this machine has.

Vectors stand in for embeddings (no model runs): unit vectors around cluster centres, of
which 5% have a planted near copy (squared distance about 0.01) and one block of 10,000 is
identical (one picture stored 10,000 times). Reported: seconds, the planted pairs found
(recall; a copy in a cluster no probe reaches is missed), groups, and the largest group.
--server also times FindDuplicates through a server on the same folder, --milvus the same
vectors in Milvus mode (library and server), both at nprobe 1, in the same run.

    nice -n 5 .venv/bin/python benchmarks/duplicates_bench.py [--n 100000] [--json]

With --quality clipart,photos (WORK_DIR kept for a look): issue 27's quality suite instead,
edited copies of clip art and of Debian wallpapers among distractors, lookalike at its
calibrated threshold against pHash/dHash/wHash/aHash (see duplicates_quality.py):

    nice -n 10 .venv/bin/python benchmarks/duplicates_bench.py --quality clipart,photos \
        --work /tmp/dupq --out benchmarks/results/duplicates_quality_COMMIT.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from testbed import make_collection, save_model  # noqa: E402

from lookalike.indexer.copies import collection_groups  # noqa: E402
from lookalike.indexer.duplicates import find_groups  # noqa: E402

DIM = 96  # the whitened embedding's size (common/recipe.py)
THRESHOLD = 0.05


def planted(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(unit vectors, (m, 2) planted near pairs); rows 0..9,999 are one identical block."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(200, DIM)).astype(np.float32)
    v = centres[rng.integers(0, 200, n)] + rng.normal(size=(n, DIM)).astype(np.float32) * 0.6
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    block = min(10_000, n // 10)
    v[:block] = v[0]
    originals = rng.choice(np.arange(block, n), n // 20, replace=False)
    copies = rng.choice(np.setdiff1d(np.arange(block, n), originals), len(originals),
                        replace=False)
    noise = rng.normal(size=(len(copies), DIM)).astype(np.float32) * 0.007
    v[copies] = v[originals] + noise
    v[copies] /= np.linalg.norm(v[copies], axis=1, keepdims=True)
    return v, np.stack([originals, copies], 1)


def score(groups: list, pairs: np.ndarray, n: int) -> dict:
    label = np.full(n, -1)
    for g, group in enumerate(groups):
        label[group.members] = g
    found = (label[pairs[:, 0]] >= 0) & (label[pairs[:, 0]] == label[pairs[:, 1]])
    return {"groups": len(groups), "largest": max((len(g.members) for g in groups), default=0),
            "planted_pair_recall": round(float(found.mean()), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--clusters", type=int, default=316)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--server", action="store_true",
                        help="also time FindDuplicates through a server (nprobe 1)")
    parser.add_argument("--milvus", action="store_true",
                        help="also time Milvus mode on an embedded Milvus server (nprobe 1); "
                             "run under flock /work/milvus.lock")
    parser.add_argument("--nprobes", default="1,2,4", help="nprobe values of the library runs")
    parser.add_argument("--quality", default="", help="sets of the quality suite: clipart,photos")
    parser.add_argument("--work", type=Path, help="folder for the quality suite's files")
    parser.add_argument("--originals", default="clipart=120:400,photos=20:0",
                        help="per set, originals:distractors (photos: 0 = all the rest)")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--base-model", action="store_true",
                        help="quality suite: embed with the shipped base as it is (no "
                             "fine-tuning; faster) instead of what `lookalike build` runs")
    args = parser.parse_args()
    if args.quality:
        quality(args)
        return
    vectors, pairs = planted(args.n)
    out: dict = {"n": args.n, "dim": DIM, "threshold": THRESHOLD, "runs": []}
    with tempfile.TemporaryDirectory() as work:
        model = Path(work) / "model"
        model.mkdir()
        save_model(model, DIM)
        start = time.perf_counter()
        collection = make_collection(Path(work) / "c", model, vectors, k=args.clusters)
        out["create_s"] = round(time.perf_counter() - start, 1)
        clusters = collection.all_vectors()[1]
        for nprobe in map(int, args.nprobes.split(",")):
            start = time.perf_counter()
            groups = find_groups(vectors, THRESHOLD, clusters=clusters,
                                 centroids=collection.centroids, nprobe=nprobe)
            library = time.perf_counter() - start
            start = time.perf_counter()
            found = collection_groups(collection, THRESHOLD, nprobe, read_files=False)
            folder = time.perf_counter() - start
            run = {"nprobe": nprobe, "library_s": round(library, 2),
                   "collection_s": round(folder, 2), **score(groups, pairs, args.n)}
            assert len(found) == len(groups)
            out["runs"].append(run)
            print(run, file=sys.stderr)
        collection.close()
        if args.server or args.milvus:
            from duplicates_served import in_milvus, through_server

            if args.server:
                out["served"] = through_server(Path(work) / "c", THRESHOLD, 1)
                print(out["served"], file=sys.stderr)
            if args.milvus:
                out["milvus"] = in_milvus(Path(work), model, vectors, args.clusters, THRESHOLD, 1)
                print(out["milvus"], file=sys.stderr)
    if args.out:
        args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=None if args.json else 2))


def quality(args: argparse.Namespace) -> None:
    import logging

    from duplicates_quality import run_set, targets, wallpapers

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    sizes = {k: tuple(map(int, v.split(":")))
             for k, v in (x.split("=") for x in args.originals.split(","))}
    out: dict = {}
    for name in args.quality.split(","):
        originals, distractors = sizes[name]
        if name == "photos" and not distractors:
            distractors = len(wallpapers()) - originals
        out[name] = run_set(name, args.work, originals, distractors, not args.base_model)
        out[name]["targets"] = targets(out[name])
        print(json.dumps({name: out[name]["targets"]}), file=sys.stderr)
        if args.out:
            args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
