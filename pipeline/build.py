"""`lookalike build` as a function: decode, train, embed (pipeline/backends.py), cluster, index."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lookalike.common import recipe
from lookalike.common.errors import InvalidArgument, TrainingError
from lookalike.common.paths import as_found
from lookalike.common.sources import read_sources
from lookalike.encoder import checkpoint as checkpoints
from lookalike.encoder.checkpoint import Checkpoint
from lookalike.encoder.model import ModelConfig
from lookalike.encoder.train import TrainConfig
from lookalike.indexer.calibration import Calibration
from lookalike.indexer.checks import check_rows
from lookalike.indexer.clustering import choose_k, choose_nprobe, fit_kmeans
from lookalike.indexer.folder import refuse_existing
from lookalike.indexer.local.create import write_collection
from lookalike.indexer.manifest import Manifest
from lookalike.indexer.map_compute import MapConfig
from lookalike.indexer.map_file import refresh_map
from lookalike.indexer.opener import open_collection
from lookalike.pipeline.backends import BuildSteps, backend_for
from lookalike.pipeline.calibrate import calibrate
from lookalike.pipeline.inputs import Skipped, check_unique_ids
from lookalike.pipeline.ray_embed import RayConfig

if TYPE_CHECKING:
    from lookalike.indexer.milvus.store import MilvusAddress

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildConfig:
    """A build's settings; the recipe's defaults, with reasons, are in common/recipe.py."""

    clusters: int | None = None  # None: choose k by silhouette score
    seed: int = 0
    # the default nprobe is the smallest that reaches it
    target_recall: float = recipe.TARGET_RECALL
    model_config: ModelConfig = field(default_factory=ModelConfig)
    train_config: TrainConfig = field(default_factory=TrainConfig)
    # False: start from the shipped base encoder (encoder/base) and fine-tune it on at most
    # fine_tune_images of the collection's images; True: train from random weights (the
    # behaviour before the base model). A model_config whose size the base does not have
    # trains from scratch too.
    from_scratch: bool = False
    fine_tune_images: int = recipe.FINE_TUNE_IMAGES
    whiten_dim: int = recipe.WHITEN_DIM  # 0: store the plain L2-normalised bottleneck
    whiten_power: float = recipe.WHITEN_POWER  # 0.5: full whitening (encoder/whitening.py)
    # None: the images live in the folder (Faiss + SQLite); a milvus://HOST:PORT/NAME
    # address: in that Milvus collection, the folder keeping the model and centroids.
    store: str | None = None
    milvus_token: str | None = None  # None: $LOOKALIKE_MILVUS_TOKEN
    # Decode and embed on Ray (pipeline/ray_embed.py). Training (from scratch too) and the
    # whitening fit then see only a random sample of fine_tune_images images, decoded here.
    ray: RayConfig | None = None
    workers: int | None = None  # processes decoding here (common/pool.py); None: one per core
    # The 2-D map kept with the collection (indexer/map_compute.py); None: none is made (a
    # server's Map call then asks for `lookalike map DIR`).
    map_config: MapConfig | None = field(default_factory=MapConfig)


@dataclass(frozen=True)
class Built:
    """What a build made; open the folder with `with Collection.open(built.folder) as c:`."""

    folder: Path
    model_fingerprint: str
    images: int
    skipped: list[Skipped]
    clusters: int
    default_nprobe: int
    seconds: dict[str, float]


class _Laps:
    """Seconds per stage, rounded to the hundredth."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._clock = time.perf_counter()

    def __call__(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] = round(now - self._clock, 2)
        self._clock = now


def build_collection(
    images_spec: str | Path, out: str | Path, config: BuildConfig = BuildConfig(),
    model: Checkpoint | None = None, progress: bool = False,
) -> Built:
    """Builds a collection folder from a folder or manifest of images.

    model: a trained model to embed with; None trains one (fine-tuning the base model).
    """
    lap = _Laps()
    out = Path(out)
    refuse_existing(out)  # before hours of training, not after
    address = _milvus_address(config.store)
    sources = read_sources(images_spec)
    check_unique_ids(images_spec, [s.id for s in sources])
    if address is not None and any(not s.payload.empty for s in sources):
        # Not dropped in silence: a Milvus build does not store them yet.
        raise InvalidArgument(f"{images_spec} gives labels or attributes, which a build into "
                              "Milvus does not store yet: build without those columns, then "
                              "apply them with `lookalike labels import`")
    steps = BuildSteps(images_spec, config, model, lap, progress)
    model, got = backend_for(config.ray, config.workers).train_and_embed(sources, steps)
    if not got.sources:
        raise TrainingError(f"no readable images in {images_spec}")
    vectors = got.vectors
    k = config.clusters or choose_k(vectors, config.seed).k
    centroids, _ = fit_kmeans(vectors, min(k, len(vectors)), config.seed)
    nprobe = choose_nprobe(vectors, centroids, config.target_recall, seed=config.seed)
    lap("cluster")
    calibration = calibrate(model, got.sources, vectors)
    lap("calibrate")
    fingerprint = _write(out, model, vectors, got.sources, centroids, nprobe, address,
                         config.milvus_token, calibration)
    lap("index")
    if config.map_config is not None:
        _map(out, config, progress)
        lap("map")
    return Built(out, fingerprint, len(got.sources), got.skipped, len(centroids), nprobe,
                 lap.seconds)


def _map(out: Path, config: BuildConfig, progress: bool = False) -> None:
    """Computes the new collection's map from what it stores (its ids, as the store gave
    them) and keeps it in the folder."""
    collection = open_collection(out, read_only=True, milvus_token=config.milvus_token)
    try:
        refresh_map(collection, out, config.map_config or MapConfig(), progress)
    finally:
        collection.close()


def _milvus_address(store: str | None) -> MilvusAddress | None:
    """The parsed Milvus address, checked before any work is done (None: a local store)."""
    if store is None:
        return None
    from lookalike.indexer.milvus.store import MilvusAddress

    return MilvusAddress.parse(store)


def _write(out: Path, model: Checkpoint, vectors: np.ndarray, sources: list,
           centroids: np.ndarray, nprobe: int, address: MilvusAddress | None = None,
           token: str | None = None, calibration: Calibration | None = None) -> str:
    """Writes the collection, saving the model straight into it; returns its fingerprint."""
    fingerprint = checkpoints.fingerprint(model)
    manifest = Manifest(fingerprint, model.config.output_dim, model.config.image_size)
    ids = [s.id for s in sources]
    paths = check_rows([as_found(s.location) for s in sources], ids)  # see common/paths.py
    save = lambda folder: checkpoints.save(model, folder)  # noqa: E731
    if address is None:
        write_collection(out, save, manifest, vectors, paths, ids, centroids, nprobe,
                         calibration.to_settings() if calibration else None,
                         [s.payload for s in sources])  # the manifest's labels, attributes
    else:
        from lookalike.indexer.milvus.folder import create_milvus_collection

        create_milvus_collection(out, save, manifest, vectors, paths, ids, centroids, nprobe,
                                 address, token, calibration.to_settings() if calibration else None)
    return fingerprint
