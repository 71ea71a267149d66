"""Decode and embed on a Ray cluster with Ray Data: sources, decode tasks, embedding actors."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from lookalike.common.errors import InvalidArgument, Unavailable
from lookalike.common.sources import Source
from lookalike.pipeline.inputs import Vectors

if TYPE_CHECKING:
    from lookalike.encoder.checkpoint import Checkpoint
    from lookalike.pipeline.backends import BuildSteps

# JAX loads only where the model is (the driver, the actors): a decode task's worker
# imports this module for decode_batch and should not pay for JAX too.

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'lookalike[ray]'"
LOCAL = "local"  # the address that starts a Ray instance in this process
CONNECT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class RayConfig:
    # "auto" (the cluster this machine has joined), "ray://HEAD:10001" (Ray Client),
    # "HEAD:6379" (the head's GCS), or "local": start one in this process.
    address: str = LOCAL
    actors: int = 2  # embedding actors, each loading the model once
    # Fractional, so the decode tasks still get a CPU: on 2 CPUs two whole-CPU actors
    # starve the decode stage and the run hangs (measured, Ray 2.60).
    actor_cpus: float = 0.5
    task_cpus: float = 1.0  # per decode task
    # Images per input block and decode batch, and per actor call: multiples of the
    # embedding window (the largest batch shape), so no call splits a window.
    decode_batch: int = 64
    embed_batch: int = 256

    def __post_init__(self) -> None:
        from lookalike.encoder.embed import BATCH_SIZES

        if self.actors < 1:
            raise ValueError("actors must be at least 1")
        window = BATCH_SIZES[-1]
        for name in ("decode_batch", "embed_batch"):
            if getattr(self, name) < 1 or getattr(self, name) % window:
                raise ValueError(f"{name} must be a multiple of {window}")


@dataclass(frozen=True)
class RayBackend:
    """pipeline/backends.py's Backend on a Ray cluster: decode tasks and embedding actors."""

    config: RayConfig

    def embed(self, model: Checkpoint, sources: list[Source], *,
              progress: bool = False) -> Vectors:
        return read_vectors(model, sources, self.config, progress=progress)

    def train_and_embed(self, sources: list[Source],
                        steps: BuildSteps) -> tuple[Checkpoint, Vectors]:
        """Training and the whitening fit here on a sample; every image decoded and embedded
        on Ray by the final model, so the cluster never sees the unwhitened one."""
        from lookalike.encoder.embed import Embedder

        with ray_session(self.config.address):  # joined before training, not after
            model, read = steps.read_and_train(steps.sample(sources), "sample")
            if steps.whitens(model):
                model = steps.whiten(model, Embedder(model)(read.images, rows=read.rows))
                steps.lap("whiten")
            got = self.embed(model, sources, progress=steps.progress)
        steps.lap("embed")
        return model, got


def read_vectors(model: Checkpoint, sources: list[Source], config: RayConfig, *,
                 progress: bool = False) -> Vectors:
    """pipeline.inputs.read_vectors on Ray: the same kept sources, vectors and skipped list.

    Files are read where the decode task runs: on a cluster, every node must see the paths
    (a shared file system). Each actor loads the model once, from its bytes.
    """
    from lookalike.encoder import checkpoint as checkpoints

    if not sources:
        return Vectors([], np.empty((0, model.config.output_dim), np.float32), [])
    with ray_session(config.address):
        import ray.data

        ray.data.DataContext.get_current().enable_progress_bars = progress
        dataset = (
            ray.data.from_arrow(_blocks(sources, config.decode_batch))
            .map_batches(decode_batch, batch_size=config.decode_batch, num_cpus=config.task_cpus,
                         fn_kwargs={"size": model.config.image_size})
            .map_batches(EmbedActor, batch_size=config.embed_batch, num_cpus=config.actor_cpus,
                         compute=ray.data.ActorPoolStrategy(size=config.actors),
                         fn_constructor_kwargs={"model_files": checkpoints.to_files(model)})
        )
        index, vectors, errors = _gather(dataset, model.config.output_dim)
    return _in_order(sources, index, vectors, errors)


def _blocks(sources: list[Source], size: int) -> list[Any]:
    """The input: index and location of each source, in blocks of size rows.

    Blocks of whole embedding windows (encoder/embed.py) keep every actor call to whole
    windows, never paying for one window twice. Locations travel as bytes that give back
    the very same str, whatever it holds: a non-UTF-8 file name's escapes, or a lone
    surrogate from a JSON manifest (which gets the local path's message, not a crash here).
    """
    import pyarrow as pa

    return [pa.table({"index": pa.array(range(start, min(start + size, len(sources))),
                                        pa.int64()),
                      "location": pa.array([s.location.encode("utf-8", "surrogatepass")
                                            for s in sources[start : start + size]],
                                           pa.binary())})
            for start in range(0, len(sources), size)]


def _gather(dataset: Any, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The writer: every row's input index, vector and error, as they arrive."""
    parts = list(dataset.iter_batches(batch_size=None, batch_format="numpy"))
    if not parts:
        return np.empty(0, np.int64), np.empty((0, dim), np.float32), np.empty(0, object)
    return tuple(np.concatenate([p[key] for p in parts])  # type: ignore[return-value]
                 for key in ("index", "vector", "error"))


def _in_order(sources: list[Source], index: np.ndarray, vectors: np.ndarray,
              errors: np.ndarray) -> Vectors:
    # Rows arrive in whatever order the tasks finish: each carries its input index, and one
    # argsort here is cheaper than making Ray Data preserve the order.
    order = np.argsort(index, kind="stable")
    index, vectors, errors = index[order], vectors[order], errors[order]
    assert len(index) == len(sources), (len(index), len(sources))
    ok = errors == ""
    kept = [sources[i] for i in index[ok]]
    skipped = [(sources[i].query, str(e)) for i, e in zip(index[~ok], errors[~ok], strict=True)]
    for query, message in skipped[:5]:
        logger.warning("skipped %s: %s", query, message)
    return Vectors(kept, np.ascontiguousarray(vectors[ok], np.float32), skipped)


def decode_batch(batch: dict[str, np.ndarray], size: int) -> dict[str, np.ndarray]:
    """A decode task: each row's image, or the message the local pipeline reports for it."""
    from lookalike.encoder.data import try_load_image

    count = len(batch["index"])
    images = np.zeros((count, size, size, 3), np.uint8)
    errors = np.full(count, "", dtype=object)
    for row, location in enumerate(batch["location"]):
        got = try_load_image(bytes(location).decode("utf-8", "surrogatepass"), size)
        if isinstance(got, str):
            errors[row] = got
        else:
            images[row] = got
    return {"index": batch["index"], "image": images, "error": errors}


class EmbedActor:
    """An embedding actor: loads the model once, then embeds batch after batch."""

    def __init__(self, model_files: dict[str, bytes]) -> None:
        from lookalike.encoder import checkpoint as checkpoints
        from lookalike.encoder.embed import Embedder

        self.embedder = Embedder(checkpoints.from_files(model_files))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        ok = batch["error"] == ""
        vectors = np.zeros((len(ok), self.embedder.dim), np.float32)
        if ok.any():  # at their rows: the vectors the local pipeline gives, bit for bit
            vectors[ok] = self.embedder(batch["image"][ok], rows=batch["index"][ok])
        return {"index": batch["index"], "vector": vectors, "error": batch["error"]}


@contextmanager
def ray_session(address: str, num_cpus: int | None = None) -> Iterator[None]:
    """Connects to the Ray cluster at address (or starts one, for "local") for the block.

    Where Ray is already initialised in this process, that instance is used and left
    running; one started or joined here is shut down after the block.

    Raises:
        Unavailable: Ray is not installed, or the cluster cannot be reached.
        InvalidArgument: address is none of the forms RayConfig lists.
    """
    ray = import_ray()
    _check_reachable(address)
    if ray.is_initialized():
        yield
        return
    try:
        if address == LOCAL:
            _start_local(ray, num_cpus)
        else:
            ray.init(address=address)
    except (ConnectionError, ValueError) as exc:
        raise Unavailable(f"cannot reach the Ray cluster at {address}: {exc}") from None
    try:
        yield
    finally:
        ray.shutdown()


LOCAL_START_TRIES = 2


def _start_local(ray: Any, num_cpus: int | None) -> None:
    """Starts a Ray instance in this process; once more where its raylet missed Ray's fixed
    30 s startup wait ("The current node timed out during startup"), as it did once in a
    CI run on an idle 2-core machine (2026-11-30, Ray 2.60), leaving no raylet log.

    Raises:
        Unavailable: it did not start on the second try either.
    """
    for attempt in range(1, LOCAL_START_TRIES + 1):
        try:
            ray.init(num_cpus=num_cpus, include_dashboard=False)
            return
        except Exception as exc:  # noqa: BLE001 - Ray raises a bare Exception for this
            if "timed out during startup" not in str(exc):
                raise
            ray.shutdown()
            if attempt == LOCAL_START_TRIES:
                raise Unavailable(f"a local Ray did not start: {exc}") from None
            logger.warning("a local Ray did not start in time; starting it once more")


def import_ray() -> Any:
    """The ray module, or Unavailable saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401  (the extra installs ray[data], not bare ray)
    except ImportError:
        raise Unavailable(f"--ray needs Ray Data, which is not installed: {INSTALL_HINT}") from None
    return ray


def _check_reachable(address: str) -> None:
    """Fails fast on a HOST:PORT nobody answers on: Ray Client waits 30 s before it says so,
    and ray.init on an unreachable GCS address was still waiting after 10 minutes (Ray 2.60,
    measured)."""
    if address in (LOCAL, "auto"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise InvalidArgument(
            f"--ray {address}: expected auto, local, ray://HOST:PORT or HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise Unavailable(
            f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}") from None
