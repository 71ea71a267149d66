"""`lookalike train` as a function: fine-tune (or train) an encoder and save a model folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lookalike.encoder import checkpoint as checkpoints
from lookalike.encoder.model import ModelConfig
from lookalike.encoder.pretrained import fine_tune
from lookalike.encoder.train import TrainConfig
from lookalike.pipeline.inputs import Skipped, read_images


@dataclass(frozen=True)
class Trained:
    folder: Path
    fingerprint: str
    images: int
    skipped: list[Skipped]
    final_loss: float


def train_model(
    images_spec: str | Path, out: str | Path, model_config: ModelConfig,
    train_config: TrainConfig, *, from_scratch: bool = False,
    progress: bool = False, workers: int | None = None,
) -> Trained:
    """Fine-tunes the base model on the images of a folder or manifest (or trains from
    random weights) and saves it into out.

    Raises:
        TrainingError: no image is readable.
    """
    read = read_images(images_spec, model_config.image_size, progress=progress, require=True,
                       workers=workers)
    model = fine_tune(read.images, model_config, train_config, from_scratch=from_scratch,
                      progress=progress)
    fingerprint = checkpoints.save(model, out)
    return Trained(Path(out), fingerprint, len(read.sources), read.skipped,
                   float(model.meta.get("final_loss", 0)))
