"""Stateless servers sharing one Milvus collection, through the SDK, on a real Milvus server."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from lookalike.clients import Client
from lookalike.common.errors import NotFound
from lookalike.encoder import checkpoint
from lookalike.indexer.manifest import MODEL_DIR
from lookalike.pipeline.build import BuildConfig, build_collection
from lookalike.server.app import create_server
from lookalike.server.config import ServerConfig

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
