"""The report's pictures: t-SNE scatter, scores against k, cluster sizes, sample montage."""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display, safe in servers and tests

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image, ImageDraw, ImageOps  # noqa: E402

from lookalike.present.thumbs import thumbnail_or_none  # noqa: E402

logger = logging.getLogger(__name__)

THUMB = 64


def _colours(n: int) -> np.ndarray:
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20" if n <= 20 else "turbo")
    return cmap(np.arange(n) % cmap.N if n <= 20 else np.linspace(0, 1, max(n, 2)))


def tsne_plot(points: np.ndarray, clusters: np.ndarray, nlist: int, title: str,
              out: Path) -> None:
    """A 2-D scatter of t-SNE points, one colour per cluster, with a legend when it fits."""
    fig, ax = plt.subplots(figsize=(8, 7), dpi=110)
    colours = _colours(nlist)
    for c in np.unique(clusters):
        mask = clusters == c
        ax.scatter(points[mask, 0], points[mask, 1], s=6, color=colours[c], label=str(c),
                   alpha=0.8, linewidths=0)
    if nlist <= 20:
        # Beside the axes, not on them, so it hides no points.
        ax.legend(title="cluster", markerscale=3, fontsize=8, loc="upper left",
                  bbox_to_anchor=(1.01, 1.0), frameon=True)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def k_scores_plot(ks: list[int], silhouettes: list[float], inertias: list[float],
                  current: int, out: Path) -> None:
    """Silhouette (left axis) and inertia (right axis) against k; the current k is marked."""
    fig, left = plt.subplots(figsize=(8, 4.5), dpi=110)
    left.plot(ks, silhouettes, "o-", color="tab:blue", label="silhouette")
    left.set_xlabel("k (clusters)")
    left.set_ylabel("silhouette (higher is better)", color="tab:blue")
    right = left.twinx()
    right.plot(ks, inertias, "s--", color="tab:orange", label="inertia")
    right.set_ylabel("inertia (KMeans objective)", color="tab:orange")
    left.axvline(current, color="grey", linestyle=":", label=f"current k={current}")
    best = ks[int(np.argmax(silhouettes))]
    left.set_title(f"Choosing k: best silhouette at k={best}; this collection uses k={current}",
                   fontsize=10)
    if len(ks) > 1 and ks[-1] / max(ks[0], 1) > 8:
        left.set_xscale("log")
    left.set_xticks(ks, [str(k) for k in ks])  # plain numbers, even on a log axis
    left.minorticks_off()
    left.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def sizes_plot(sizes: list[int], out: Path) -> None:
    fig, ax = plt.subplots(figsize=(max(6, min(16, len(sizes) * 0.25)), 4), dpi=110)
    ax.bar(range(len(sizes)), sizes, color=_colours(len(sizes)))
    mean = float(np.mean(sizes)) if sizes else 0.0
    ax.axhline(mean, color="black", linestyle="--", linewidth=1, label=f"mean {mean:.1f}")
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))  # cluster numbers, not 2.5
    ax.set_xlabel("cluster")
    ax.set_ylabel("images")
    ax.set_title(f"Cluster sizes ({len(sizes)} clusters, {sum(sizes)} images)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def tile(path: str, size: int = THUMB) -> Image.Image:
    """The thumbnail of the image at path padded to size x size on white; a crossed grey
    placeholder if it is unreadable here (remote images are not fetched for reports)."""
    picture = thumbnail_or_none(path, size, fetch=False)
    if picture is not None:
        return ImageOps.pad(picture, (size, size), color=(255, 255, 255))
    placeholder = Image.new("RGB", (size, size), (200, 200, 200))
    draw = ImageDraw.Draw(placeholder)
    draw.line((0, 0, size, size), fill=(150, 0, 0), width=2)
    draw.line((0, size, size, 0), fill=(150, 0, 0), width=2)
    return placeholder


def montage(samples: dict[int, list[str]], sizes: list[int], out: Path) -> None:
    """One row per cluster, in samples' order: its number and size, then its sample images."""
    label_w, gap = 90, 4
    columns = max((len(v) for v in samples.values()), default=1) or 1
    width = label_w + columns * (THUMB + gap)
    height = max(1, len(samples)) * (THUMB + gap)
    sheet = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for row, (cluster, paths) in enumerate(samples.items()):
        y = row * (THUMB + gap)
        draw.text((6, y + THUMB // 2 - 12), f"cluster {cluster}", fill=(0, 0, 0))
        draw.text((6, y + THUMB // 2 + 2), f"{sizes[cluster]} images", fill=(90, 90, 90))
        for col, path in enumerate(paths):
            sheet.paste(tile(path), (label_w + col * (THUMB + gap), y))
    sheet.save(out)
