"""Cheap levers on top of the default build, each beside it in one run (issue 12).

Usage:
  python benchmarks/build_levers.py [--pack .devdata/pack.npz] [--sets icons,clipart]
        [--levers expand,zoom,trim,grey,hog] [--out levers.json]

The reference is the default build before grey views, in process: the shipped base
fine-tuned on the set with TrainConfig but no grey views (20% grey views, the default since
this benchmark measured them, is the fine_tune_grey0.2 row here), partial whitening to 96
dimensions, exact cosine search, self excluded. Icons: recall@10 (a hit is the same icon name in
another theme); clip art: topic precision@10. Each lever is scored on the same images:

- expand: retrieval-side smoothing, no training. Database-side augmentation (DBA: every
  stored vector replaced by itself plus its k nearest, weighted by similarity**alpha) and
  alpha query expansion (QE: the query plus its k nearest in the database, searched again),
  alone and together, k 1-5, alpha 0 or 3 (Radenovic et al., "Fine-tuning CNN image
  retrieval with no human annotation", 2018).
- zoom: test-time averaging of the embedding over fixed views of each image: a centre
  crop of 85% (and 70%) resized back, an 85% zoom-out onto edge padding, a mirror. The
  whitening is fitted on the averaged vectors.
- trim: a uniform border (the background: the median border colour, where 90% of the
  border is within 24 levels of it) trimmed to the content's square box, 4% margin, before
  fine-tuning and embedding.
- grey: colour invariance. The default model embedding grey copies (the channel mean), the
  mean of the colour and grey embeddings, and fine-tuning with grey views 20% or 50% of the
  time (AugmentConfig.grayscale; the base was pretrained with 20%, and 20% is the default
  since this ran).
- hog: a HOG-prediction term (MaskFeat, Wei et al. 2022) added to the fine-tuning: a linear
  head predicts the clean view's HOG (8x8-pixel cells, 9 unsigned orientations, the
  strongest channel's gradient, each cell normalised over its 3x3-cell neighbourhood) from
  the embedding; weight 1 or 10 against the usual reconstruction and contrastive terms. It
  swaps the training objective and model class of lookalike.encoder.train for the run.

The pack comes from `pretrain_sweep.py pack`. JSON on stdout, and to --out after every set.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import label_scores  # noqa: E402

from lookalike.encoder import checkpoint  # noqa: E402
from lookalike.encoder.augment import AugmentConfig  # noqa: E402
from lookalike.encoder.embed import Embedder  # noqa: E402
from lookalike.encoder.pretrained import load_base  # noqa: E402
from lookalike.encoder.train import TrainConfig, train  # noqa: E402
from lookalike.encoder.whitening import apply_whitening, fit_whitening  # noqa: E402

K = 10
FIGURE = {"icons": "recall_at_10", "clipart": "precision_at_10"}


def unit(v: np.ndarray) -> np.ndarray:
    return v / (np.linalg.norm(v, axis=1, keepdims=True) + 1e-12)


def nearest(queries: np.ndarray, gallery: np.ndarray, k: int, skip_diagonal: bool
            ) -> tuple[np.ndarray, np.ndarray]:
    """(indices, similarities) of each query's k nearest in gallery, best first."""
    sims = queries @ gallery.T
    if skip_diagonal:
        np.fill_diagonal(sims, -np.inf)
    top = np.argpartition(-sims, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(sims, top, 1), axis=1)
    top = np.take_along_axis(top, order, 1)
    return top, np.take_along_axis(sims, top, 1)


def expanded(vectors: np.ndarray, gallery: np.ndarray, k: int, alpha: float) -> np.ndarray:
    """Each vector plus its k nearest in gallery (itself excluded; the two arrays are the
    same items), weighted by similarity**alpha, renormalised."""
    top, sims = nearest(vectors, gallery, k, skip_diagonal=True)
    weights = np.clip(sims, 0, None) ** alpha
    return unit(vectors + (weights[..., None] * gallery[top]).sum(1))


def scored(queries: np.ndarray, gallery: np.ndarray, labels: np.ndarray) -> dict:
    return label_scores(nearest(queries, gallery, K, skip_diagonal=True)[0], labels)


def whitened(model: checkpoint.Checkpoint, vectors: np.ndarray) -> np.ndarray:
    return unit(apply_whitening(fit_whitening(model, vectors), vectors))


def expand_lever(vectors: np.ndarray, labels: np.ndarray) -> dict:
    out = {}
    for k in (1, 2, 3, 5):
        for alpha in (0.0, 3.0):
            # One smoothing serves both: as the database (DBA) and as the queries (QE).
            smoothed = expanded(vectors, vectors, k, alpha)
            out[f"dba_k{k}_a{alpha:g}"] = scored(vectors, smoothed, labels)
            out[f"qe_k{k}_a{alpha:g}"] = scored(smoothed, vectors, labels)
            out[f"dba_qe_k{k}_a{alpha:g}"] = scored(expanded(vectors, smoothed, k, alpha),
                                                    smoothed, labels)
    return out


def zoomed(images: np.ndarray, factor: float) -> np.ndarray:
    """factor < 1: the centre crop of that side fraction, resized back; > 1: the image
    shrunk by 1/factor onto edge padding."""
    import jax
    import jax.numpy as jnp

    n, s = images.shape[:2]
    x = jnp.asarray(images, jnp.float32)
    if factor < 1:
        side = round(s * factor)
        o = (s - side) // 2
        out = jax.image.resize(x[:, o:o + side, o:o + side], (n, s, s, 3), "linear")
    else:
        side = round(s / factor)
        o = (s - side) // 2
        small = jax.image.resize(x, (n, side, side, 3), "linear")
        out = jnp.pad(small, ((0, 0), (o, s - side - o), (o, s - side - o), (0, 0)), mode="edge")
    return np.asarray(jnp.clip(jnp.round(out), 0, 255)).astype(np.uint8)


def zoom_lever(model: checkpoint.Checkpoint, images: np.ndarray, labels: np.ndarray) -> dict:
    embed = Embedder(model)
    views = {"in85": zoomed(images, 0.85), "in70": zoomed(images, 0.7),
             "out85": zoomed(images, 1 / 0.85), "mirror": images[:, :, ::-1].copy()}
    plain = unit(embed(images))
    vecs = {name: unit(embed(v)) for name, v in views.items()}
    combos = {"in85": ["in85"], "in85_in70": ["in85", "in70"], "out85": ["out85"],
              "in85_out85": ["in85", "out85"], "mirror": ["mirror"]}
    out = {}
    for name, parts in combos.items():
        mean = unit(plain + sum(vecs[p] for p in parts))
        v = whitened(model, mean)
        out[f"default+{name}"] = scored(v, v, labels)
    return out


def trimmed(image: np.ndarray, tol: int = 24, margin: float = 0.04) -> np.ndarray:
    """image with a uniform border trimmed to the content's square box (see the docstring)."""
    from PIL import Image

    s = image.shape[0]
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]]).astype(np.int16)
    background = np.median(border, 0)
    if np.mean(np.abs(border - background).max(1) <= tol) < 0.9:
        return image
    mask = np.abs(image.astype(np.int16) - background).max(2) > tol
    if not mask.any():
        return image
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    side = int(np.ceil(max(y1 - y0, x1 - x0) * (1 + 2 * margin)))
    if side >= s:
        return image
    top, left = round((y0 + y1 - side) / 2), round((x0 + x1 - side) / 2)
    canvas = np.empty((side, side, 3), np.uint8)
    canvas[:] = background.astype(np.uint8)
    sy0, sx0, sy1, sx1 = max(top, 0), max(left, 0), min(top + side, s), min(left + side, s)
    canvas[sy0 - top:sy1 - top, sx0 - left:sx1 - left] = image[sy0:sy1, sx0:sx1]
    return np.asarray(Image.fromarray(canvas).resize((s, s), Image.Resampling.BILINEAR))


# The fine-tuning every lever is compared with: the default before grey views.
REFERENCE = TrainConfig(augment=dataclasses.replace(AugmentConfig(), grayscale=0.0))


def default_build(images: np.ndarray, base: checkpoint.Checkpoint
                  ) -> tuple[checkpoint.Checkpoint, np.ndarray]:
    model = train(images, None, REFERENCE, init=base)
    return model, whitened(model, unit(Embedder(model)(images)))


def trim_lever(images: np.ndarray, labels: np.ndarray, base: checkpoint.Checkpoint) -> dict:
    cropped = np.stack([trimmed(i) for i in images])
    _, v = default_build(cropped, base)
    changed = float(np.mean((cropped != images).any((1, 2, 3))))
    return {"trim": {**scored(v, v, labels), "images_changed": round(changed, 3)}}


def grey_lever(model: checkpoint.Checkpoint, images: np.ndarray, labels: np.ndarray,
               base: checkpoint.Checkpoint) -> dict:
    embed = Embedder(model)
    grey = np.repeat(images.mean(-1, keepdims=True).round().astype(np.uint8), 3, -1)
    plain, grey_plain = unit(embed(images)), unit(embed(grey))
    out = {}
    for name, vectors in (("grey_at_embed", grey_plain), ("colour_grey_mean",
                                                          unit(plain + grey_plain))):
        v = whitened(model, vectors)
        out[name] = scored(v, v, labels)
    for p in (0.2, 0.5):
        config = dataclasses.replace(
            REFERENCE, augment=dataclasses.replace(REFERENCE.augment, grayscale=p))
        tuned = train(images, None, config, init=base)
        v = whitened(tuned, unit(Embedder(tuned)(images)))
        out[f"fine_tune_grey{p:g}"] = scored(v, v, labels)
    return out


def hog(x, cell: int = 8, bins: int = 9):
    """(n, h, w, 3) floats in [0, 1] -> (n, h/cell, w/cell, bins) HOG (see the docstring)."""
    import jax
    import jax.numpy as jnp

    p = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    gx, gy = p[:, 1:-1, 2:] - p[:, 1:-1, :-2], p[:, 2:, 1:-1] - p[:, :-2, 1:-1]
    mag = jnp.sqrt(gx**2 + gy**2 + 1e-12)
    best = jnp.argmax(mag, -1)[..., None]
    gx, gy, mag = (jnp.take_along_axis(a, best, -1)[..., 0] for a in (gx, gy, mag))
    pos = jnp.mod(jnp.arctan2(gy, gx), jnp.pi) / jnp.pi * bins - 0.5
    lo = jnp.floor(pos)
    frac = (pos - lo)[..., None]
    lo = jnp.mod(lo.astype(jnp.int32), bins)
    votes = (jax.nn.one_hot(lo, bins) * (1 - frac)
             + jax.nn.one_hot(jnp.mod(lo + 1, bins), bins) * frac) * mag[..., None]
    n, h, w, _ = votes.shape
    cells = votes.reshape(n, h // cell, cell, w // cell, cell, bins).sum((2, 4))
    energy = jnp.pad((cells**2).sum(-1), ((0, 0), (1, 1), (1, 1)))
    hc, wc = h // cell, w // cell
    block = sum(energy[:, i:i + hc, j:j + wc] for i in range(3) for j in range(3))
    return cells / jnp.sqrt(block[..., None] * 4 / 9 + 1.0)


@contextlib.contextmanager
def hog_training(weight: float) -> Iterator[None]:
    """lookalike.encoder.train fine-tunes with the HOG term at weight while inside."""
    import jax
    import jax.numpy as jnp
    from flax import nnx

    import lookalike.encoder.train as training
    import lookalike.encoder.whitening as whitening
    from lookalike.encoder.losses import downscale, encoded_views, nt_xent
    from lookalike.encoder.model import Autoencoder

    class HogAutoencoder(Autoencoder):
        def __init__(self, config, rngs):
            super().__init__(config, rngs)
            cells = config.image_size // 8
            self.hog = nnx.Linear(config.embed_dim, cells * cells * 9, rngs=rngs)

    def objective(model, clean, jpeg, key, augment, recon_weight, contrast_weight,
                  temperature):
        z1, z2, target1 = encoded_views(model, clean, jpeg, key, augment)
        recon = model.decoder(z1)
        rec = jnp.mean((recon - downscale(target1, recon.shape[1])) ** 2)
        target = hog(target1)
        rec = rec + weight * jnp.mean((model.hog(z1).reshape(target.shape) - target) ** 2)
        con = nt_xent(z1, z2, temperature)
        return recon_weight * rec + contrast_weight * con, (rec, con)

    saved = training.objective, training.Autoencoder, whitening.Autoencoder
    training.objective = objective
    training.Autoencoder = whitening.Autoencoder = HogAutoencoder
    jax.clear_caches()  # train_step was traced with the other objective
    try:
        yield
    finally:
        training.objective, training.Autoencoder, whitening.Autoencoder = saved
        jax.clear_caches()


def hog_lever(images: np.ndarray, labels: np.ndarray, base: checkpoint.Checkpoint) -> dict:
    out = {}
    for weight in (1.0, 10.0):
        with hog_training(weight):
            model, v = default_build(images, base)
        out[f"hog_w{weight:g}"] = {**scored(v, v, labels),
                                   "final_recon_loss": round(model.meta["final_recon_loss"], 4)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pack", default=".devdata/pack.npz")
    parser.add_argument("--sets", default="icons,clipart")
    parser.add_argument("--levers", default="expand,zoom,trim,grey,hog")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    base = load_base()
    data = np.load(args.pack, allow_pickle=False)
    levers = args.levers.split(",")
    out: dict = {"base": base.fingerprint}
    for name in args.sets.split(","):
        start = time.perf_counter()
        images, labels = data[f"{name}_images"], data[f"{name}_labels"]
        model, vectors = default_build(images, base)
        result = {"default": scored(vectors, vectors, labels)}
        if "expand" in levers:
            result.update(expand_lever(vectors, labels))
        if "zoom" in levers:
            result.update(zoom_lever(model, images, labels))
        if "trim" in levers:
            result.update(trim_lever(images, labels, base))
        if "grey" in levers:
            result.update(grey_lever(model, images, labels, base))
        if "hog" in levers:
            result.update(hog_lever(images, labels, base))
        result["seconds"] = round(time.perf_counter() - start, 1)
        out[name] = result
        best = max((k for k in result if k not in ("default", "seconds")),
                   key=lambda k: result[k][FIGURE[name]])
        logging.warning("%s: default %s, best %s %s", name, result["default"][FIGURE[name]],
                        best, result[best][FIGURE[name]])
        if args.out:
            args.out.write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
