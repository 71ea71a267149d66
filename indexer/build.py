"""The seed's whole pipeline: decode, train, embed, choose k, cluster, index."""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from lookalike.common.errors import InvalidArgument, TrainingError
from lookalike.common.paths import as_found
from lookalike.common.sources import Source, read_sources
from lookalike.encoder import checkpoint as checkpoints
from lookalike.encoder.base import FINE_TUNE_IMAGES, fine_tune
from lookalike.encoder.checkpoint import Checkpoint
from lookalike.encoder.data import load_images
from lookalike.encoder.embed import Embedder
from lookalike.encoder.model import ModelConfig
from lookalike.encoder.train import TrainConfig
from lookalike.encoder.whitening import DEFAULT_DIM, fit_whitening
from lookalike.indexer.clustering import choose_k, choose_nprobe, fit_kmeans
from lookalike.indexer.collection import Collection
from lookalike.indexer.create import refuse_existing
from lookalike.indexer.ids import check_ids
from lookalike.indexer.manifest import Manifest

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildConfig:
    clusters: int | None = None  # None: choose k by silhouette score
    seed: int = 0
    target_recall: float = 0.95  # the default nprobe is the smallest that reaches it
    model_config: ModelConfig = field(default_factory=ModelConfig)
    train_config: TrainConfig = field(default_factory=TrainConfig)
    # False: start from the shipped base encoder (encoder/base) and fine-tune it on at most
    # fine_tune_images of the collection's images; True: train from random weights (the
    # behaviour before the base model). A model_config whose size the base does not have
    # trains from scratch too.
    from_scratch: bool = False
    fine_tune_images: int = FINE_TUNE_IMAGES
    whiten_dim: int = DEFAULT_DIM  # 0: store the plain L2-normalised bottleneck


@dataclass
class BuildReport:
    collection: Collection
    images: int
    skipped: list[tuple[str, str]]
    clusters: int
    default_nprobe: int
    seconds: dict[str, float]


def build_collection(
    images_spec: str | Path, out: str | Path, config: BuildConfig = BuildConfig(),
    model: Checkpoint | None = None, progress: bool = False,
) -> BuildReport:
    """Builds a collection folder from a folder or manifest of images."""
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] = round(now - clock, 2)
        clock = now

    refuse_existing(Path(out))  # before hours of training, not after
    sources = read_sources(images_spec)
    _check_ids(images_spec, [s.id for s in sources])
    size = model.config.image_size if model else config.model_config.image_size
    images, kept, failed = load_images([s.location for s in sources], size, progress=progress)
    lap("decode")
    if len(kept) == 0:
        raise TrainingError(f"no readable images in {images_spec}")
    if model is None:
        model = fine_tune(images, config.model_config, config.train_config,
                          from_scratch=config.from_scratch,
                          max_images=config.fine_tune_images, progress=progress)
        lap("train")
    vectors = Embedder(model)(images)
    if config.whiten_dim and not model.config.whiten_dim:
        model = fit_whitening(model, vectors, config.whiten_dim)
        vectors = Embedder(model)(images)
    lap("embed")
    k = config.clusters or choose_k(vectors, config.seed).k
    centroids, _ = fit_kmeans(vectors, min(k, len(vectors)), config.seed)
    nprobe = choose_nprobe(vectors, centroids, config.target_recall, seed=config.seed)
    lap("cluster")
    collection = _write(out, model, vectors, [sources[i] for i in kept], centroids, nprobe)
    lap("index")
    skipped = [(sources[i].query, message) for i, message in failed]
    return BuildReport(collection, len(kept), skipped, len(centroids), nprobe, seconds)


def _check_ids(images_spec: str | Path, ids: list[str | None]) -> None:
    """Refuses bad or repeated ids before decoding and training, not after."""
    try:
        check_ids(ids)
    except InvalidArgument as exc:
        raise InvalidArgument(f"{images_spec}: {exc}") from None
    seen: set[str] = set()
    for row_id in ids:
        if row_id in seen:
            raise InvalidArgument(f"{images_spec}: the id {row_id!r:.80} is given twice")
        if row_id is not None:
            seen.add(row_id)


def _write(out, model, vectors, sources: list[Source], centroids, nprobe) -> Collection:
    with tempfile.TemporaryDirectory() as tmp:
        fingerprint = checkpoints.save(model, tmp)
        manifest = Manifest(fingerprint, model.config.output_dim, model.config.image_size)
        paths = [as_found(s.location) for s in sources]  # symlinks kept: see common/paths.py
        return Collection.create(out, tmp, manifest, vectors, paths, [s.id for s in sources],
                                 centroids, nprobe)
