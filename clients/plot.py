"""Pictures of results: the query beside its neighbours, with distance and cluster."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.clients.images import image_bytes
from lookalike.clients.results import SearchResult
from lookalike.common.errors import LookalikeError

logger = logging.getLogger(__name__)

THUMB = 160


def thumbnail(image: Any, size: int = THUMB) -> np.ndarray | None:
    """An RGB thumbnail of a path, URL, bytes, PIL image or array; None if unreadable."""
    from PIL import Image, ImageOps

    try:
        with Image.open(io.BytesIO(image_bytes(image))) as img:
            img = ImageOps.exif_transpose(img).convert("RGB")
            img.thumbnail((size, size))
            return np.asarray(img)
    except (LookalikeError, OSError, ValueError) as exc:
        logger.debug("no thumbnail for %r: %s", image, exc)
        return None


def plot_result(
    result: SearchResult, out: str | Path, query: Any = None, title: str | None = None,
    labels: dict[str, str] | None = None,
) -> Path:
    """Draws the query beside its neighbours as one row and writes a PNG.

    Args:
        result: what Client.search returned.
        out: the PNG to write.
        query: the query image (defaults to result.query).
        title: a heading for the figure.
        labels: optional extra caption per neighbour id (e.g. a known class).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    query = result.query if query is None else query
    panels = [(thumbnail(query) if query is not None else None,
               f"query\ncluster {result.cluster}")]
    for n in result.neighbors:
        extra = f"\n{labels[n.id]}" if labels and n.id in labels else ""
        panels.append((thumbnail(n.path), f"#{n.id}\nd={n.distance:.3g} c={n.cluster}{extra}"))
    fig, axes = plt.subplots(1, len(panels), figsize=(1.7 * len(panels), 2.3), squeeze=False)
    for i, (ax, (pixels, caption)) in enumerate(zip(axes[0], panels)):
        if pixels is None:
            ax.text(0.5, 0.5, "not readable\nhere", ha="center", va="center", fontsize=8)
        else:
            ax.imshow(pixels, cmap="gray" if pixels.ndim == 2 else None)
        ax.set_title(caption, fontsize=8, color="tab:blue" if i == 0 else "black")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_edgecolor("tab:blue" if i == 0 else "0.8")
            spine.set_linewidth(3 if i == 0 else 1)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.88) if title else None)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
