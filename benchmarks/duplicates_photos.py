"""A small check of duplicate groups at the calibrated threshold on real photographs.

scikit-image's bundled photos (20), each saved with every edit of common/edits.py and a
mirror, built with the shipped base model (no training: embedding and calibration only),
then pair precision and recall as imagededup's evaluate counts them (mirrors are not
counted as duplicates, and reported apart), per preset and per kind of edit. An extreme set:
every picture has 11 copies, so most nearest neighbours are copies.

    nice -n 5 .venv/bin/python benchmarks/duplicates_photos.py WORK_DIR
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
import skimage.data as sd
from PIL import Image

from lookalike.common.edits import EDITS, mirror
from lookalike.encoder.pretrained import load_base
from lookalike.indexer.calibration import resolve
from lookalike.indexer.copies import collection_groups, stored_calibration
from lookalike.indexer.local.collection import Collection
from lookalike.pipeline.build import BuildConfig, build_collection

NAMES = ["astronaut", "coffee", "chelsea", "rocket", "camera", "cat", "hubble_deep_field",
         "immunohistochemistry", "retina", "page", "moon", "horse", "coins", "clock", "text",
         "brick", "grass", "gravel", "colorwheel", "logo"]


def make_set(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        pixels = getattr(sd, name)()
        image = Image.fromarray(pixels if pixels.dtype == np.uint8
                                else (pixels * 255).astype(np.uint8))
        image.convert("RGB").save(folder / f"{name}.png")
        for kind, edit in {**EDITS, "mirror": mirror}.items():
            edit(image).convert("RGB").save(folder / f"{name}__{kind}.png")


def _source(name: str) -> tuple[str, str]:
    stem = name.removesuffix(".png")
    return (stem.split("__")[0], stem.split("__")[1]) if "__" in stem else (stem, "original")


def score(names: list[str], label: dict[str, int]) -> dict:
    tp = fp = positives = 0
    per_kind: dict[str, list[bool]] = {}
    for a, b in itertools.combinations(names, 2):
        (sa, ka), (sb, kb) = _source(a), _source(b)
        together = label.get(a, -1) >= 0 and label.get(a) == label.get(b)
        if sa == sb and "original" in (ka, kb):
            per_kind.setdefault(kb if ka == "original" else ka, []).append(together)
        duplicate = sa == sb and "mirror" not in (ka, kb)
        positives += duplicate
        tp += together and duplicate
        fp += together and not duplicate
    precision, recall = tp / max(1, tp + fp), tp / max(1, positives)
    return {"precision": round(precision, 3), "recall": round(recall, 3),
            "f1": round(2 * precision * recall / max(1e-9, precision + recall), 3),
            "recall_by_kind": {k: round(float(np.mean(v)), 2) for k, v in per_kind.items()}}


def main() -> None:
    work = Path(sys.argv[1])
    make_set(work / "images")
    start = time.perf_counter()
    build_collection(work / "images", work / "collection", BuildConfig(clusters=4),
                     model=load_base())
    out: dict = {"build_s": round(time.perf_counter() - start, 1), "presets": {}}
    with Collection.open(work / "collection", read_only=True) as collection:
        calibration = stored_calibration(collection)
        out["calibration"] = calibration._asdict() if calibration else None
        names = [Path(r.path).name for r in collection.rows()]
        for preset in ("calibrated", "strict", "loose"):
            threshold = resolve(calibration, None, preset)
            groups = collection_groups(collection, threshold, nprobe=4)
            label = {Path(r.path).name: g for g, found in enumerate(groups) for r in found.rows}
            out["presets"][preset] = {"threshold": round(threshold, 4),
                                      **score(names, label)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
