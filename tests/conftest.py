"""Shared fixtures: generated images and one small collection built once per session."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from benchmarks.testbed import make_images, save_model


def session_model(factory: pytest.TempPathFactory) -> Path:
    """The session's one tiny model folder, saved on first use, for fixtures in any folder."""
    folder = factory.getbasetemp() / "tiny-model"
    if not (folder / "model.json").exists():
        folder.mkdir(exist_ok=True)
        save_model(folder)
    return folder


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return session_model(tmp_path_factory)


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("images")
    make_images(folder)
    return folder


@pytest.fixture(scope="session")
def built_collection(tmp_path_factory: pytest.TempPathFactory, image_folder: Path) -> Path:
    """A collection of the 48 generated images, 1 training epoch, 4 clusters."""
    from lookalike.encoder.train import TrainConfig
    from lookalike.pipeline.build import BuildConfig, build_collection

    out = tmp_path_factory.mktemp("collections") / "small"
    config = BuildConfig(clusters=4, train_config=TrainConfig(epochs=1, batch_size=16))
    build_collection(image_folder, out, config)
    return out


@pytest.fixture
def collection_copy(built_collection: Path, tmp_path: Path) -> Path:
    """A private copy of the small collection, for tests that change or damage it."""
    import shutil

    return Path(shutil.copytree(built_collection, tmp_path / "collection"))


@contextmanager
def serving(folder: Path) -> Iterator[tuple[object, str]]:
    """folder served on a free loopback port: (running, target)."""
    from lookalike.server.config import ServerConfig
    from lookalike.server.grpc_server import create_server

    running = create_server(folder, ServerConfig(port=0))
    try:
        yield running, f"127.0.0.1:{running.port}"
    finally:
        running.stop(grace_s=1)


@pytest.fixture
def served(collection_copy: Path):
    """The private collection served on a free loopback port; yields (running, target)."""
    with serving(collection_copy) as pair:
        yield pair


@pytest.fixture(scope="module")
def milvus_built(tmp_path_factory: pytest.TempPathFactory, image_folder: Path,
                 built_collection: Path, milvus_uri: str) -> Path:
    """The small collection built again into the real Milvus server, with the session's
    model (one per test module that asks: its tests share it)."""
    import uuid

    from lookalike.encoder import checkpoint
    from lookalike.indexer.manifest import MODEL_DIR
    from lookalike.pipeline.build import BuildConfig, build_collection

    out = tmp_path_factory.mktemp("milvus-built") / "c"
    build_collection(image_folder, out, BuildConfig(
        clusters=4, store=f"milvus://{milvus_uri}/built_{uuid.uuid4().hex[:12]}"),
        model=checkpoint.load(built_collection / MODEL_DIR))
    return out


@pytest.fixture(scope="module")
def milvus_served(milvus_built: Path):
    """milvus_built served on a free loopback port; yields (running, target)."""
    with serving(milvus_built) as pair:
        yield pair


@pytest.fixture(scope="session")
def milvus():
    """The real Milvus server of this pytest run (one per machine at a time: its embedded
    etcd's peer port is fixed), started the first time a test asks for it."""
    from benchmarks.milvus_server import milvus_server

    with milvus_server() as server:
        yield server


@pytest.fixture(scope="session")
def milvus_uri(milvus) -> str:
    """host:port of the run's Milvus server."""
    return f"127.0.0.1:{milvus.listen_port}"


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray instance (2 CPUs) for the whole run, started the product's own way.

    Library calls made while it runs use it. Ray tests carry a timeout mark besides: a
    stage starved of CPUs waits forever rather than failing.
    """
    pytest.importorskip("ray.data")
    import os

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray.data

    from lookalike.pipeline.ray_embed import ray_session

    with ray_session("local", num_cpus=2):
        ray.data.DataContext.get_current().print_on_execution_start = False
        yield
