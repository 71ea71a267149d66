"""The web app against a Milvus-mode collection on a real Milvus server: the same routes,
since the app only ever talks to the gRPC API."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from lookalike.clients import Client, Filter
from lookalike.ui.app import create_app
from lookalike.ui.config import UiConfig


@pytest.fixture(scope="module")
def milvus_served(tmp_path_factory, ui_collection, milvus_uri: str):
    """The web app's test images built into Milvus with the same model, served in-process."""
    from lookalike.encoder import checkpoint
    from lookalike.indexer.manifest import MODEL_DIR
    from lookalike.pipeline.build import BuildConfig, build_collection
    from lookalike.server.config import ServerConfig
    from lookalike.server.grpc_server import create_server

    collection, images = ui_collection
    out = tmp_path_factory.mktemp("ui-milvus") / "c"
    build_collection(images, out, BuildConfig(clusters=4, store=f"milvus://{milvus_uri}/ui"),
                     model=checkpoint.load(Path(collection) / MODEL_DIR))
    running = create_server(out, ServerConfig(port=0))
    yield f"127.0.0.1:{running.port}"
    running.stop(grace_s=1)


def test_the_app_serves_a_milvus_collection(milvus_served, milvus_uri):
    with TestClient(create_app(UiConfig(milvus_served, allowed_hosts=("testserver",)))) as web, \
            Client(milvus_served) as sdk:
        web.headers["x-csrf-token"] = web.app.state.csrf
        info = web.get("/api/info").json()
        assert milvus_uri in info["store"] and info["count"] == 40
        first = sdk.browse(page_size=1).items[0]
        assert web.get(f"/thumb/{first.id}").headers["x-thumb-status"] == "ok"
        found = web.post("/api/search", json={"id": first.id, "k": 3}).json()
        assert len(found["neighbors"]) == 3
        page = web.get(f"/api/clusters/{first.cluster}", params={"size": 100}).json()
        assert len(page["items"]) == info["cluster_sizes"][first.cluster]
        assert web.post("/api/update", json={"cluster": first.cluster,
                                             "add_labels": ["in-milvus"]}).status_code == 200
        assert sdk.count(Filter(any_labels=["in-milvus"])) == len(page["items"])
        assert web.post("/api/undo").status_code == 200
        assert sdk.count(Filter(any_labels=["in-milvus"])) == 0
