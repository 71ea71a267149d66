"""Milvus going away and coming back, behind a lookalike server, on a real Milvus server."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from lookalike.clients import Client
from lookalike.clients.retry import RetryPolicy
from lookalike.common.errors import Unavailable
from lookalike.encoder import checkpoint
from lookalike.indexer.manifest import MODEL_DIR
from lookalike.pipeline.build import BuildConfig, build_collection
from lookalike.server.config import ServerConfig
from lookalike.server.grpc_server import create_server


@pytest.mark.timeout(300)
def test_milvus_down_is_unavailable_and_the_sdk_retries_through_a_restart(
        tmp_path: Path, image_folder: Path, built_collection: Path, milvus) -> None:
    """Stops and restarts the run's Milvus server (a second one cannot run beside it), and
    leaves it running for the tests after it."""
    image = str(sorted(image_folder.iterdir())[3])
    folder = tmp_path / "c"
    store = f"milvus://127.0.0.1:{milvus.listen_port}/outage"
    build_collection(image_folder, folder, BuildConfig(clusters=4, store=store),
                     model=checkpoint.load(built_collection / MODEL_DIR))
    running = create_server(folder, ServerConfig(port=0))
    target = f"127.0.0.1:{running.port}"
    # The default policy (5 tries, about 3 s) does not outlast a Milvus restart (about 30 s).
    patient = RetryPolicy(attempts=12, initial_backoff_s=0.5, max_backoff_s=4.0)
    restart = threading.Timer(4.0, milvus.start)  # at once, the old files can still be held
    try:
        with Client(target, retry=patient, timeout=90) as client, \
                Client(target, retry=RetryPolicy(attempts=1), timeout=20) as once:
            before = [n.id for n in client.search(image, k=3).neighbors]
            milvus.stop()
            began = time.monotonic()
            with pytest.raises(Unavailable, match="Milvus"):
                once.search(image, k=3)
            assert time.monotonic() - began < 5  # refused at once, not after a hang
            restart.start()
            after = [n.id for n in client.search(image, k=3).neighbors]  # retried through
            assert after == before
    finally:
        if restart.ident is not None:
            restart.join()
        if not milvus.running:  # the tests after this one need it
            milvus.start()
        running.stop(grace_s=1)
