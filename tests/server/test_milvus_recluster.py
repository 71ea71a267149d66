"""A lookalike server on a Milvus collection while it is reclustered, on a real Milvus server."""

from __future__ import annotations

import contextlib
import io
import itertools
import threading
import time
from pathlib import Path

import pytest

from benchmarks.testbed import blob_vectors, make_collection, milvus_vectors_folder, vector_ids
from lookalike.clients import Client
from lookalike.clients.retry import RetryPolicy
from lookalike.common.errors import LookalikeError
from lookalike.indexer.local.recluster import recluster
from lookalike.indexer.milvus.recluster import recluster_milvus
from lookalike.indexer.opener import open_collection
from lookalike.indexer.recluster import ReclusterConfig
from lookalike.server.config import ServerConfig
from lookalike.server.grpc_server import create_server
from tests.conftest import session_model


@pytest.mark.timeout(240)
def test_a_server_answers_through_reclusters_keeps_every_add_then_routes_like_local(
        tmp_path: Path, tmp_path_factory, milvus_uri: str, image_folder: Path) -> None:
    model = session_model(tmp_path_factory)
    vectors = blob_vectors(n=1000, centres=8, seed=6)
    ids = vector_ids(len(vectors))
    folder = milvus_vectors_folder(tmp_path / "m", model, f"milvus://{milvus_uri}/reserved",
                                   vectors, k=5)
    local = make_collection(tmp_path / "l", model, vectors, k=5, ids=list(ids))
    running = create_server(folder, ServerConfig(port=0))
    try:
        serve_through_reclusters(f"127.0.0.1:{running.port}", folder, ids, vectors, local,
                                 image_folder)
    finally:
        running.stop(grace_s=1)
        local.close()


def serve_through_reclusters(target: str, folder: Path, ids: list[str], vectors, local,
                             image_folder: Path) -> None:
    from lookalike.app.cli import main

    stop = threading.Event()
    failures: list[Exception] = []
    acknowledged: list[str] = []
    searches = itertools.count()

    def search_all_along() -> None:
        with Client(target, retry=RetryPolicy(attempts=1), timeout=30) as client:
            for n in itertools.cycle(range(0, len(ids), 7)):
                if stop.is_set():
                    return
                try:
                    found = client.search(id=ids[n], k=3, nprobe=8)
                    assert len(found.neighbors) == 3, found
                    next(searches)
                except (LookalikeError, AssertionError) as exc:
                    failures.append(exc)

    def add_all_along() -> None:
        images = sorted(image_folder.iterdir())
        with Client(target, retry=RetryPolicy(attempts=1), timeout=60) as client:
            for n, image in enumerate(itertools.cycle(images)):
                if stop.is_set():
                    return
                try:
                    (added,) = client.add([str(image)], ids=[f"during-{n}"])
                except LookalikeError as exc:
                    failures.append(exc)
                    continue
                if isinstance(added, Exception):
                    failures.append(added)
                else:
                    acknowledged.append(added.id)

    workers = [threading.Thread(target=search_all_along), threading.Thread(target=add_all_along)]
    try:
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < 3 and time.monotonic() < deadline and not failures:
            time.sleep(0.05)
        with open_collection(folder) as admin:  # another process's view, as the CLI's
            during = len(acknowledged)
            report = recluster_milvus(admin, ReclusterConfig(clusters=7))
            after_switch = len(acknowledged)
        time.sleep(1.0)  # the server goes on, now on the new generation
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=60)
    assert not failures, failures[:3]
    assert report.clusters_after == 7 and after_switch > during and next(searches) > 10
    with open_collection(folder, read_only=True) as after:
        assert after.nlist == 7
        assert sorted(r.id for r in after.rows()) == sorted(ids + acknowledged)
    with Client(target) as client:
        assert len(client.info().cluster_sizes) == 7
        assert client.delete(acknowledged) == (len(acknowledged), [])

    # The CLI reclusters the served collection again, now to the local store's twin. Its
    # output is caught without capsys: Milvus, started in this test when it runs alone,
    # must not inherit a capture stream that is closed before the run ends.
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert main(["recluster", str(folder), "--clusters", "6"]) == 0
    printed = out.getvalue()
    assert "1000 images, clusters 7 -> 6" in printed and "default nprobe" in printed
    recluster(local, ReclusterConfig(clusters=6))
    with Client(target) as client:
        assert client.info().default_nprobe == local.default_nprobe
        for n in range(0, len(ids), 40):
            theirs = local.search(vectors[n:n + 1], 11)
            expected = [theirs.rows[r].id for r in theirs.rowids[0] if theirs.rows[r].id != ids[n]]
            found = client.search(id=ids[n], k=10)  # at the default nprobe
            assert [h.id for h in found.neighbors] == expected[:10]
