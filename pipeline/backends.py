"""Where a build's and an embed's images are decoded and embedded: here, or on a cluster.

As clip-retrieval's distributors: one small protocol, one implementation per place, chosen
from the flags in one function (backend_for). LocalBackend is here; RayBackend lives in
pipeline/ray_embed.py and is imported only for --ray, so an install without Ray never
loads it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from lookalike.common.sources import Source
from lookalike.pipeline.inputs import Images, Vectors, read_images, read_vectors

if TYPE_CHECKING:
    from lookalike.encoder.checkpoint import Checkpoint
    from lookalike.pipeline.build import BuildConfig
    from lookalike.pipeline.ray_embed import RayConfig


@runtime_checkable
class Backend(Protocol):
    """Decodes and embeds images for `lookalike embed` and `lookalike build`.

    Every backend gives the same vectors for the same images, bit for bit: each image is
    embedded at its row (encoder/embed.py), however the work is split.
    """

    def embed(self, model: Checkpoint, sources: list[Source], *,
              progress: bool = False) -> Vectors:
        """The vectors of every readable source, the kept sources in input order, and
        the skipped ones with their messages."""
        ...

    def train_and_embed(self, sources: list[Source],
                        steps: BuildSteps) -> tuple[Checkpoint, Vectors]:
        """A build's model and its images' vectors: the backend chooses which images this
        process decodes to train and fit the whitening on (steps), and embeds them all."""
        ...


@dataclass(frozen=True)
class BuildSteps:
    """The build's own steps, which a backend runs in its order: decoding here and training,
    and the whitening fit. Each step's seconds go to lap."""

    spec: str | Path
    config: BuildConfig
    model: Checkpoint | None  # the model to embed with; None: train one
    lap: Callable[[str], None]
    progress: bool = False

    def read_and_train(self, sources: list[Source], stage: str) -> tuple[Checkpoint, Images]:
        """sources decoded here, and the model: the one given, else one trained on them."""
        from lookalike.encoder.pretrained import fine_tune

        config = self.config
        size = self.model.config.image_size if self.model else config.model_config.image_size
        read = read_images(self.spec, size, progress=self.progress, require=True,
                           sources=sources, workers=config.workers)
        self.lap(stage)
        model = self.model
        if model is None:
            model = fine_tune(read.images, config.model_config, config.train_config,
                              from_scratch=config.from_scratch,
                              max_images=config.fine_tune_images, progress=self.progress)
            self.lap("train")
        return model, read

    def sample(self, sources: list[Source]) -> list[Source]:
        """At most fine_tune_images of sources, chosen at random and kept in their order."""
        count = self.config.fine_tune_images
        if len(sources) <= count:
            return sources
        chosen = np.random.default_rng(self.config.train_config.seed).choice(
            len(sources), count, replace=False)
        return [sources[i] for i in np.sort(chosen)]

    def whitens(self, model: Checkpoint) -> bool:
        """Whether the build asks for a whitening that model does not have yet."""
        return bool(self.config.whiten_dim) and not model.config.whiten_dim

    def whiten(self, model: Checkpoint, vectors: np.ndarray) -> Checkpoint:
        """model whitened on vectors, its own embeddings (as it is, with too few of them)."""
        from lookalike.encoder.whitening import fit_whitening

        return fit_whitening(model, vectors, self.config.whiten_dim, self.config.whiten_power)


@dataclass(frozen=True)
class LocalBackend:
    """Decodes in worker processes here (common/pool.py) and embeds in this process."""

    # Processes decoding for embed (None: one per core). A build decodes through its
    # steps, with BuildConfig.workers, which backend_for passes here too.
    workers: int | None = None

    def embed(self, model: Checkpoint, sources: list[Source], *,
              progress: bool = False) -> Vectors:
        return read_vectors(model, sources=sources, progress=progress, workers=self.workers)

    def train_and_embed(self, sources: list[Source],
                        steps: BuildSteps) -> tuple[Checkpoint, Vectors]:
        """Every image decoded once: trained on (training samples them itself), then
        embedded in one pass, the whitening applied to that pass as the whitened model
        would apply it."""
        from lookalike.encoder.embed import Embedder
        from lookalike.encoder.whitening import apply_whitening

        model, read = steps.read_and_train(sources, "decode")
        vectors = Embedder(model)(read.images, rows=read.rows)
        if steps.whitens(model):
            model = steps.whiten(model, vectors)
            if model.config.whiten_dim:
                vectors = apply_whitening(model, vectors)
        steps.lap("embed")
        return model, Vectors(read.sources, vectors, read.skipped)


def backend_for(ray: RayConfig | None, workers: int | None) -> Backend:
    """The backend the flags ask for: Ray's for --ray ADDRESS, else this machine's process
    pool of --workers processes (None: one per core)."""
    if ray is None:
        return LocalBackend(workers)
    from lookalike.pipeline.ray_embed import RayBackend

    return RayBackend(ray)
