"""A quick in-process check of pretraining checkpoints on icons and the cross-style set.

Usage:
  python benchmarks/pairs_check.py encoder/base /work/runs/pairs/latest [--icons 1500]
        [--out result.json]

Each model embeds the images as it is (no fine-tuning, unlike a build), plain and
PCA-whitened as the build whitens (96 dimensions, power 0.25, fitted on the set itself);
exact cosine search. Icons: recall@10 and top-1 of the same name in another evaluation
theme, on a fixed random sample of names (--icons images at most, all of each name kept).
Cross style (cross_style.py, held out of pretraining): outlined queries against the
filled gallery with distractors, top-1 and recall@10. Raw pixels are the same-run
baseline. Cheaper and rougher than retrieval_quality.py, which judges through the build.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import quality_data  # noqa: E402
from _common import label_scores, pixels  # noqa: E402
from cross_style import cross_style_set, decoded  # noqa: E402
from retrieval_quality import dup_scores, neighbours  # noqa: E402

from lookalike.common.decode import decode_image  # noqa: E402
from lookalike.encoder import checkpoint  # noqa: E402
from lookalike.encoder.embed import Embedder  # noqa: E402
from lookalike.encoder.whitening import DEFAULT_DIM, DEFAULT_POWER, fit_whitening  # noqa: E402


def icon_sample(limit: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Decoded evaluation icons of a random sample of names, up to limit images."""
    paths, labels = quality_data.icon_set()
    names = np.unique(labels)
    np.random.default_rng(seed).shuffle(names)
    chosen, count = set(), 0
    per_name = {n: labels.count(n) for n in names}
    for name in names:
        if count + per_name[name] > limit:
            break
        chosen.add(name)
        count += per_name[name]
    keep = [i for i, label in enumerate(labels) if label in chosen]
    images = np.stack([decode_image(paths[i].read_bytes(), 64) for i in keep])
    return images, np.unique([labels[i] for i in keep], return_inverse=True)[1]


def embeddings(model: checkpoint.Checkpoint, fit_on: np.ndarray, *sets: np.ndarray
               ) -> dict[str, list[np.ndarray]]:
    plain = Embedder(model)
    whitened = Embedder(fit_whitening(model, plain(fit_on), DEFAULT_DIM, DEFAULT_POWER))
    return {"plain": [plain(s) for s in sets], "whitened": [whitened(s) for s in sets]}


def check(models: dict[str, checkpoint.Checkpoint | None], icon_limit: int) -> dict:
    icons, labels = icon_sample(icon_limit)
    gallery_files, query_files, _ = cross_style_set()
    gallery, queries = decoded(gallery_files), decoded(query_files)
    out: dict = {"icons_images": len(icons), "crossstyle_gallery": len(gallery)}
    for name, model in models.items():
        start = time.perf_counter()
        if model is None:  # raw pixels
            views = {"plain": [pixels(icons), pixels(gallery), pixels(queries)]}
        else:
            on_icons = embeddings(model, icons, icons)
            on_styles = embeddings(model, gallery, gallery, queries)
            views = {kind: on_icons[kind] + on_styles[kind] for kind in on_icons}
        out[name] = {kind: {"icons": label_scores(neighbours(v[0]), labels),
                            "crossstyle": dup_scores(neighbours(v[1], v[2]))}
                     for kind, v in views.items()}
        out[name]["meta"] = {} if model is None else {
            "fingerprint": model.fingerprint,
            **{k: model.meta.get("pretraining", {}).get(k) for k in ("epoch", "step", "views",
                                                                        "cpu_s")}}
        out[name]["seconds"] = round(time.perf_counter() - start, 1)
        logging.info("%s: %s", name, json.dumps(out[name]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="checkpoint folders")
    parser.add_argument("--icons", type=int, default=1500, help="evaluation icons at most")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    models: dict = {"raw_pixels": None}
    models |= {folder: checkpoint.load(folder) for folder in args.models}
    result = check(models, args.icons)
    text = json.dumps(result, indent=1)
    if args.out:
        Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
