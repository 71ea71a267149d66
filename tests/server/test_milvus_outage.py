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
from lookalike.server.app import create_server
from lookalike.server.config import ServerConfig
from tests.milvus_server import milvus_server


@pytest.mark.timeout(300)
def test_milvus_down_is_unavailable_and_the_sdk_retries_through_a_restart(
        tmp_path: Path, image_folder: Path, built_collection: Path) -> None:
    image = str(sorted(image_folder.iterdir())[3])
    with milvus_server() as milvus:  # its own server: this test stops it
        folder = tmp_path / "c"
        build_collection(image_folder, folder,
                         BuildConfig(clusters=4, store=f"milvus://127.0.0.1:{milvus.listen_port}/o"),
                         model=checkpoint.load(built_collection / MODEL_DIR))
        running = create_server(folder, ServerConfig(port=0))
        target = f"127.0.0.1:{running.port}"
        patient = RetryPolicy(attempts=12, initial_backoff_s=0.5, max_backoff_s=4.0)
        try:
            with Client(target, retry=patient, timeout=90) as client, \
                    Client(target, retry=RetryPolicy(attempts=1), timeout=20) as once:
                before = [n.id for n in client.search(image, k=3).neighbors]
                milvus.stop()
                start = time.monotonic()
                with pytest.raises(Unavailable, match="Milvus"):
                    once.search(image, k=3)
                print(f"Unavailable after {time.monotonic() - start:.1f}s")
                # a restart at once can find the old process's files still held
                restart = threading.Timer(4.0, milvus.start)
                restart.start()
                start = time.monotonic()
                after = [n.id for n in client.search(image, k=3).neighbors]  # retried
                print(f"answered {time.monotonic() - start:.1f}s after Milvus stopped")
                restart.join()
                assert after == before
        finally:
            running.stop(grace_s=1)
