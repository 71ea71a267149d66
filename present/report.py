"""`lookalike report`: t-SNE, choosing k, cluster sizes and samples, in one HTML page."""

from __future__ import annotations

import csv
import html
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lookalike.common.paths import local_path
from lookalike.present.html import write_page

if TYPE_CHECKING:  # the indexer (Faiss) and scikit-learn load when a report is written
    from lookalike.indexer.local.collection import Collection

logger = logging.getLogger(__name__)

TSNE_PNG, KSCORES_PNG, SIZES_PNG, MONTAGE_PNG = "tsne.png", "k_scores.png", "sizes.png", \
    "montage.png"
SIZES_CSV, SIZES_JSON, INDEX_HTML = "sizes.csv", "sizes.json", "index.html"


@dataclass(frozen=True)
class ReportConfig:
    tsne_sample: int = 3000  # t-SNE is O(n log n) but slow in practice: sample beyond this
    per_cluster: int = 8  # sample images per cluster in the montage
    max_montage_clusters: int = 64  # the largest ones, when there are more
    seed: int = 0


@dataclass(frozen=True)
class Written:
    folder: Path
    html: Path
    files: dict[str, Path]


def write_report(collection: Collection, out: str | Path, config: ReportConfig = ReportConfig(),
                 labels_csv: str | Path | None = None) -> Written:
    """Writes the plots, sizes and index.html into out; optionally id,path,cluster to labels_csv."""
    from lookalike.indexer.clustering import imbalance
    from lookalike.indexer.copies import stored_calibration
    from lookalike.present import report_plots as plots

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    rowids, clusters, vectors = collection.all_vectors()
    sizes = collection.cluster_sizes()
    rng = np.random.default_rng(config.seed)
    facts: dict[str, object] = {"images": len(rowids), "clusters": len(sizes),
                                "imbalance": round(imbalance(sizes), 3),
                                "default_nprobe": collection.default_nprobe}
    calibration = stored_calibration(collection)
    facts["duplicate_threshold"] = ("not calibrated" if calibration is None else
                                    "{:.4g} (strict {:.4g}, loose {:.4g})".format(*calibration))
    take = np.sort(rng.choice(len(rowids), min(config.tsne_sample, len(rowids)), replace=False))
    facts["tsne_points"] = len(take)
    points = _tsne(vectors[take], config.seed)
    sampled = f"a random sample of {len(take):,} of {len(rowids):,} images" \
        if len(take) < len(rowids) else f"all {len(rowids):,} images"
    plots.tsne_plot(points, clusters[take], len(sizes),
                    f"t-SNE of the embeddings, coloured by cluster ({sampled})", folder / TSNE_PNG)
    facts.update(_k_scores(vectors, len(sizes), config.seed, folder / KSCORES_PNG))
    del vectors
    plots.sizes_plot(sizes, folder / SIZES_PNG)
    _write_sizes(sizes, imbalance(sizes), folder)
    rows = collection.rows()
    plots.montage(_samples(rows, sizes, config, rng), sizes, folder / MONTAGE_PNG)
    page = write_page(folder / INDEX_HTML, f"lookalike report: {collection.folder.name}",
                      render_html(facts, sampled, collection.folder), STYLE)
    if labels_csv:
        export_labels(rows, labels_csv)
    files = {name: folder / name for name in (TSNE_PNG, KSCORES_PNG, SIZES_PNG, MONTAGE_PNG,
                                              SIZES_CSV, SIZES_JSON, INDEX_HTML)}
    return Written(folder, page, files)


def _tsne(vectors: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.manifold import TSNE

    if len(vectors) < 3:  # t-SNE needs more points than its perplexity; lay a few out flat
        return np.column_stack([np.arange(len(vectors)), np.zeros(len(vectors))])
    perplexity = float(min(30, len(vectors) - 1) / 1.01)
    return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(vectors)


def _k_scores(vectors: np.ndarray, current: int, seed: int, out: Path) -> dict[str, object]:
    from lookalike.indexer.clustering import candidate_ks, choose_k
    from lookalike.present import report_plots as plots

    if len(vectors) < 4:
        return {"k_scores": "too few images to compare k"}
    candidates = sorted(set(candidate_ks(len(vectors))) | {min(current, len(vectors) - 1)}
                        - {0, 1})
    choice = choose_k(vectors, seed, candidates)
    plots.k_scores_plot(choice.candidates, choice.silhouettes, choice.inertias, current, out)
    return {"best_k_by_silhouette": choice.k,
            "silhouette_at_current_k": round(choice.silhouettes[candidates.index(
                min(current, len(vectors) - 1))], 4) if current > 1 else None}


def _write_sizes(sizes: list[int], ratio: float, folder: Path) -> None:
    with (folder / SIZES_CSV).open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["cluster", "size"])
        writer.writerows(enumerate(sizes))
    (folder / SIZES_JSON).write_text(json.dumps(
        {"sizes": sizes, "imbalance": ratio}, indent=1), encoding="utf-8")


def _samples(rows: list, sizes: list[int], config: ReportConfig,
             rng: np.random.Generator) -> dict[int, list[str]]:
    """Sample paths per cluster, largest clusters first (the montage's row order)."""
    by_cluster: dict[int, list[str]] = {}
    for row in rows:
        by_cluster.setdefault(row.cluster, []).append(local_path(row.path))
    shown = sorted(range(len(sizes)), key=lambda c: -sizes[c])[: config.max_montage_clusters]
    return {c: [paths[i] for i in sorted(rng.choice(len(paths), min(config.per_cluster,
                                                                    len(paths)), replace=False))]
            for c in shown if (paths := by_cluster.get(c))}


def export_labels(rows: list, out: str | Path) -> None:
    """id, path, cluster per image: name the clusters, then label data a cluster at a time."""
    with Path(out).open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "path", "cluster"])
        writer.writerows((r.id, r.path, r.cluster) for r in rows)


STYLE = "body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}" \
    "img{max-width:100%;border:1px solid #ccc}"


def render_html(facts: dict[str, object], sampled: str, collection: Path) -> str:
    """The page's body; images are linked relatively so the folder opens from disk."""
    items = "".join(f"<li><b>{html.escape(str(k))}</b>: {html.escape(str(v))}</li>"
                    for k, v in facts.items())
    sections = [
        (TSNE_PNG, "t-SNE of the embeddings",
         f"Each point is an image, coloured by its cluster; this plot shows {sampled}. "
         "Well separated colours mean the clusters are meaningful; t-SNE distances between "
         "far-apart groups are not."),
        (KSCORES_PNG, "Silhouette and inertia against k",
         "Silhouette (higher is better, on a sample) and KMeans inertia for the k values "
         "<code>--clusters auto</code> tries; the dotted line is this collection's k."),
        (SIZES_PNG, "Cluster sizes",
         f'Also as <a href="{SIZES_CSV}">CSV</a> and <a href="{SIZES_JSON}">JSON</a>.'),
        (MONTAGE_PNG, "Sample images per cluster",
         "Random members of each cluster (the largest clusters first); a crossed grey tile "
         "is an image that could not be read from its stored path."),
    ]
    body = "".join(f'<section><h2>{title}</h2><p>{text}</p><a href="{png}">'
                   f'<img src="{png}" alt="{title}"></a></section>'
                   for png, title, text in sections)
    return f"<h1>Clusters of {html.escape(str(collection))}</h1><ul>{items}</ul>{body}"
