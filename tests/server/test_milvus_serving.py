"""Stateless servers sharing one Milvus collection, through the SDK, on a real Milvus server."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lookalike.clients import Client
from lookalike.clients.retry import RetryPolicy
from lookalike.common.errors import LookalikeError, NotFound
from lookalike.encoder import checkpoint
from lookalike.indexer.manifest import MODEL_DIR
from lookalike.indexer.opener import open_collection
from lookalike.pipeline.build import BuildConfig, build_collection
from lookalike.server.config import ServerConfig
from lookalike.server.grpc_server import create_server

_names = itertools.count()


@pytest.fixture(scope="module")
def milvus_folder(tmp_path_factory, image_folder: Path, built_collection: Path,
                  milvus_uri: str) -> Path:
    """The test images built into Milvus with the session collection's model."""
    out = tmp_path_factory.mktemp("milvus-build") / "c"
    store = f"milvus://{milvus_uri}/served{next(_names)}"
    build_collection(image_folder, out, BuildConfig(clusters=4, store=store),
                     model=checkpoint.load(built_collection / MODEL_DIR))
    return out


@pytest.fixture(scope="module")
def two_servers(milvus_folder: Path):
    """Two servers on the same folder: no folder lock, both serve the one Milvus collection."""
    servers = [create_server(milvus_folder, ServerConfig(port=0)) for _ in range(2)]
    yield [f"127.0.0.1:{s.port}" for s in servers]
    for s in servers:
        s.stop(grace_s=1)


def test_info_names_the_milvus_store_and_both_servers_agree(two_servers, milvus_uri) -> None:
    with Client(two_servers[0]) as a, Client(two_servers[1]) as b:
        ia, ib = a.info(), b.info()
    assert ia.store.startswith(f"milvus://{milvus_uri}/served")
    assert (ia.count, ia.cluster_sizes, ia.store) == (ib.count, ib.cluster_sizes, ib.store)
    assert ia.count == 48


def test_a_write_through_one_server_is_seen_by_the_other_at_once(two_servers,
                                                               image_folder: Path) -> None:
    image = sorted(image_folder.iterdir())[5]
    with Client(two_servers[0]) as a, Client(two_servers[1]) as b:
        (added,) = a.add([str(image)], ids=["written-on-a"])
        assert added.id == "written-on-a"
        hits = b.search(str(image), k=3, nprobe=4)  # the very next call, on the other server
        assert "written-on-a" in [n.id for n in hits.neighbors]
        assert b.search(id="written-on-a", k=1).neighbors
        deleted, missing = b.delete(["written-on-a"])
        assert (deleted, missing) == (1, [])
        assert "written-on-a" not in [n.id for n in a.search(str(image), k=3, nprobe=4).neighbors]
        with pytest.raises(NotFound):
            a.search(id="written-on-a", k=1)


def test_both_servers_answer_a_search_alike(two_servers, image_folder: Path) -> None:
    images = sorted(image_folder.iterdir())[:6]
    with Client(two_servers[0]) as a, Client(two_servers[1]) as b:
        for image in images:
            ra, rb = a.search(str(image), k=5), b.search(str(image), k=5)
            assert [n.id for n in ra.neighbors] == [n.id for n in rb.neighbors]
            assert ra.neighbors[0].path.endswith(image.name)


def test_a_report_reads_a_milvus_collection(milvus_folder: Path, tmp_path: Path) -> None:
    from lookalike.app.cli import main

    labels = tmp_path / "labels.csv"
    assert main(["report", str(milvus_folder), "--out", str(tmp_path / "r"),
                 "--tsne-sample", "40", "--export-labels", str(labels)]) == 0
    assert (tmp_path / "r" / "index.html").exists()
    assert len(labels.read_text().splitlines()) == 48 + 1  # a header, then every image


def test_a_server_killed_mid_add_loses_no_acknowledged_id(milvus_folder: Path,
                                                          image_folder: Path) -> None:
    """kill -9 of a Milvus-mode server while a client adds: every add it acknowledged is in
    Milvus. The server holds no state of its own; Milvus acknowledged before it did."""
    server = subprocess.Popen(
        [sys.executable, "-m", "lookalike.app.cli", "serve", str(milvus_folder), "--port", "0",
         "--quiet"], stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline() if server.stdout else ""
        assert "serving on" in line, line
        target = line.strip().rsplit(" ", 1)[-1]
        acknowledged: list[str] = []
        images = sorted(image_folder.iterdir()) * 4

        def add_until_refused() -> None:
            with Client(target, retry=RetryPolicy(attempts=1), timeout=10) as client:
                for n, image in enumerate(images):
                    try:
                        (added,) = client.add([str(image)], ids=[f"killed-{n}"])
                    except LookalikeError:
                        return
                    if isinstance(added, LookalikeError):
                        return
                    acknowledged.append(added.id)

        adder = threading.Thread(target=add_until_refused)
        adder.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < 8 and time.monotonic() < deadline and adder.is_alive():
            time.sleep(0.05)
        os.kill(server.pid, signal.SIGKILL)
        adder.join(timeout=60)
    finally:
        server.kill()
        server.wait(timeout=30)
    assert len(acknowledged) >= 8
    with open_collection(milvus_folder, read_only=True) as collection:
        for id_ in acknowledged:
            assert collection.lookup(id_)[0].id == id_
    with open_collection(milvus_folder) as collection:  # as it was, for the other tests
        collection.delete([f"killed-{n}" for n in range(len(images))])


def test_info_and_add_over_grpc_count_nothing_in_milvus(milvus_folder: Path,
                                                         image_folder: Path,
                                                         monkeypatch) -> None:
    """Info answers the sizes from memory and an Add moves them: neither makes a Milvus
    count (a count per cluster once made Info take seconds; indexer/milvus/sizes.py)."""
    from lookalike.indexer.milvus import label_counts
    from tests.indexer.milvus.test_sizes import counted

    # The label counts' own rescan (a query, once they are STALE_S old) is not what this
    # counts; on a slow machine the test can outlive STALE_S, so it must not start here.
    monkeypatch.setattr(label_counts, "STALE_S", float("inf"))
    running = create_server(milvus_folder, ServerConfig(port=0))
    try:
        calls = counted(running.engine.collection)
        with Client(f"127.0.0.1:{running.port}") as client:
            before = client.info()
            assert calls.calls["query"] == 0
            (added,) = client.add([str(sorted(image_folder.iterdir())[3])], ids=["counted"])
            assert calls.calls["query"] == 1  # the given id's check, and no count
            after = client.info()
            assert after.count == before.count + 1
            assert after.cluster_sizes[added.cluster] == before.cluster_sizes[added.cluster] + 1
            assert client.delete(["counted"]) == (1, [])
            assert client.info().cluster_sizes == before.cluster_sizes
        assert calls.calls["query"] == 2  # and the delete's find
    finally:
        running.stop(grace_s=1)


def test_find_duplicates_through_milvus_servers_agrees_with_the_library(
        two_servers, milvus_folder: Path) -> None:
    import numpy as np

    from lookalike.indexer.copies import collection_groups

    with open_collection(milvus_folder, read_only=True) as collection:
        _, _, vectors = collection.all_vectors()
        distances = ((vectors[:, None] - vectors[None]) ** 2).sum(-1)
        np.fill_diagonal(distances, np.inf)
        threshold = float(np.quantile(distances.min(1), 0.3))  # some images have a group
        want = [[r.id for r in f.rows] for f in collection_groups(collection, threshold, 4)]
    with Client(two_servers[0]) as a, Client(two_servers[1]) as b:
        calibration = a.info().duplicate_calibration
        assert calibration is not None and calibration == b.info().duplicate_calibration
        got = [[[m.id for m in g.members] for g in c.find_duplicates(threshold, nprobe=4)]
               for c in (a, b)]
    assert got[0] == got[1] == want and want
