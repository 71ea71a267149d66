"""Pictures of results: the query beside its neighbours, with distance and cluster."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from lookalike.present.thumbs import thumbnail_or_none

logger = logging.getLogger(__name__)

THUMB = 160


class Answer(Protocol):
    """What plot_result draws: the SDK's SearchResult, or anything shaped like it (present/
    sits below clients/, so it names no SDK type)."""

    cluster: int
    neighbors: Sequence[Any]  # each with id, path, distance and cluster
    query: object


def distance_text(distance: float) -> str:
    """A distance as people read it, everywhere lookalike shows one (plots, contact
    sheets, `lookalike search`, the demo): three significant digits, with float noise (an
    image matching itself, 1.6e-12 or -3e-13) shown as 0. Machine output keeps the float."""
    return f"{round(distance, 6) + 0.0:.3g}"  # + 0.0: -0.0 prints as 0


def _pixels(image: Any) -> np.ndarray | None:
    picture = thumbnail_or_none(image, THUMB)
    return None if picture is None else np.asarray(picture)


def plot_result(
    result: Answer, out: str | Path, query: Any = None, title: str | None = None,
    labels: dict[str, str] | None = None, columns: int = 6,
) -> Path:
    """Draws the query beside its neighbours as a grid and writes a PNG.

    The query comes first, framed in blue; each neighbour is captioned with its rank,
    id, distance and cluster. Images the client cannot read show a placeholder.

    Args:
        result: what Client.search returned.
        out: the PNG to write.
        query: the query image (defaults to result.query).
        title: a heading for the figure.
        labels: optional extra caption per neighbour id (e.g. a known class).
        columns: images per row; more neighbours wrap onto further rows.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    query = result.query if query is None else query
    panels = [(_pixels(query) if query is not None else None,
               f"query\ncluster {result.cluster}")]
    for rank, n in enumerate(result.neighbors, 1):
        extra = f"\n{labels[n.id]}" if labels and n.id in labels else ""
        caption = f"{rank}. id {n.id}\nd={distance_text(n.distance)}  c={n.cluster}{extra}"
        panels.append((_pixels(n.path), caption))
    cols = max(1, min(columns, len(panels)))
    rows = -(-len(panels) // cols)
    height = 2.25 + 0.15 * bool(labels)
    fig, axes = plt.subplots(rows, cols, figsize=(1.9 * cols, height * rows + 0.4 * bool(title)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= len(panels):
            ax.set_axis_off()
            continue
        _draw_panel(ax, *panels[i], is_query=i == 0)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def _draw_panel(ax: Any, pixels: np.ndarray | None, caption: str, is_query: bool) -> None:
    colour = "tab:blue" if is_query else "0.75"
    if pixels is None:
        ax.text(0.5, 0.5, "not readable\nhere", ha="center", va="center", fontsize=8,
                color="0.4", transform=ax.transAxes)
    else:
        ax.imshow(pixels, cmap="gray" if pixels.ndim == 2 else None)
    ax.set_title(caption, fontsize=8, color="tab:blue" if is_query else "black",
                 fontweight="bold" if is_query else "normal")
    for spine in ax.spines.values():
        spine.set_edgecolor(colour)
        spine.set_linewidth(3 if is_query else 1)
