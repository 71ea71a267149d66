"""Which layers of the shipped base, pooled how, carry the most retrieval signal (issue 12).

Usage:
  python benchmarks/feature_readout.py [--pack .devdata/pack.npz] [--dim 96]

The seed says "grab the compressed image from the intermediate layers". The shipped
encoder already projects average-pooled features of every stage (the whole first map, a 2x2
grid of the others) to its 128-d bottleneck. This asks whether a different readout of the
same weights, with no training, retrieves better: each stage's ReLU map mean-pooled on a
g x g grid (g = 1, 2, 4), alone or all stages concatenated (each L2-normalised), then
PCA-whitened on the set itself, as a build whitens. It is scored beside the shipped
embedding, plain and whitened, in the same run: icons (recall@10, a hit is the same icon
name in another theme) and clip art (topic precision@10), base as is, exact cosine search,
self excluded. The pack comes from `pretrain_sweep.py pack`. JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import label_scores  # noqa: E402
from pretrain_sweep import neighbours  # noqa: E402

from lookalike.encoder.embed import Embedder  # noqa: E402
from lookalike.encoder.pretrained import load_base  # noqa: E402


def stage_maps(encoder, images: np.ndarray, batch: int = 256) -> list[np.ndarray]:
    """Every stage's ReLU feature map, (n, h, w, c) each, for uint8 images."""
    import jax
    import jax.numpy as jnp
    from flax import nnx

    @jax.jit
    def stages(x):
        p, c = encoder.stem, x.shape[-1]
        kernel = encoder.patch.kernel[...].reshape(p, p, c, -1)
        x = jax.lax.conv_general_dilated(x, kernel, (p, p), "VALID",
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"))
        x = nnx.relu(x + encoder.patch.bias[...])
        out = [x]
        for conv in encoder.convs:
            x = nnx.relu(conv(x))
            out.append(x)
        return out

    parts = [[np.asarray(s) for s in stages(jnp.asarray(images[i:i + batch], jnp.float32) / 255)]
             for i in range(0, len(images), batch)]
    return [np.concatenate([p[j] for p in parts]) for j in range(len(parts[0]))]


def grid_pool(maps: np.ndarray, g: int) -> np.ndarray:
    n, h, w, c = maps.shape
    return maps.reshape(n, g, h // g, g, w // g, c).mean((2, 4)).reshape(n, g * g * c)


def l2(v: np.ndarray) -> np.ndarray:
    return v / (np.linalg.norm(v, axis=1, keepdims=True) + 1e-8)


def whiten(v: np.ndarray, dim: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    return PCA(min(dim, v.shape[1], len(v) - 1), whiten=True, random_state=0).fit_transform(v)


def readouts(checkpoint, images: np.ndarray, labels: np.ndarray, dim: int) -> dict:
    def score(v: np.ndarray) -> dict:
        return label_scores(neighbours(v), labels)

    shipped = Embedder(checkpoint)(images)
    out = {"shipped": score(shipped), f"shipped_w{dim}": score(whiten(shipped, dim))}
    maps = stage_maps(checkpoint.model.encoder, images)
    for g in (1, 2, 4):
        out[f"all_stages_g{g}_w{dim}"] = score(
            whiten(np.concatenate([l2(grid_pool(m, g)) for m in maps], 1), dim))
        for j, m in enumerate(maps):
            out[f"stage{j}_g{g}_w{dim}"] = score(whiten(l2(grid_pool(m, g)), dim))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pack", default=".devdata/pack.npz")
    parser.add_argument("--dim", type=int, default=96, help="whitened dimensions")
    args = parser.parse_args()
    data = np.load(args.pack)
    checkpoint = load_base()
    print(json.dumps({"base": checkpoint.fingerprint, **{
        name: readouts(checkpoint, data[f"{name}_images"], data[f"{name}_labels"], args.dim)
        for name in ("icons", "clipart")}}, indent=1))


if __name__ == "__main__":
    main()
