"""/api/map: the server's Map call as the page reads it, and a collection without a map."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from benchmarks.testbed import blob_vectors, make_collection


def array(text: str, dtype: str) -> np.ndarray:
    """An array the API sent as base64 of its little-endian bytes."""
    return np.frombuffer(base64.b64decode(text), dtype=dtype)


def test_the_map_has_every_image_once_with_its_cluster(web, sdk):
    found = web.get("/api/map")
    assert found.status_code == 200, found.text
    points = found.json()
    x, y = array(points["x"], "<f4"), array(points["y"], "<f4")
    clusters, placed = array(points["clusters"], "<i4"), array(points["placed"], "u1")
    ids = [i.id for i in sdk.browse(page_size=1000).items]
    assert sorted(points["ids"]) == sorted(ids)
    assert len(x) == len(y) == len(clusters) == len(placed) == len(ids)
    assert np.isfinite(x).all() and np.isfinite(y).all() and x.std() > 0
    items, _ = sdk.get(points["ids"])
    assert clusters.tolist() == [i.cluster for i in items]
    truth = sdk.map()
    order = {id: n for n, id in enumerate(truth.ids)}
    rows = [order[id] for id in points["ids"]]
    assert np.array_equal(np.stack([x, y], 1), truth.xy[rows])
    assert points["version"] == truth.version


@pytest.fixture
def mapless(tmp_path, model_dir):
    """A collection made straight from vectors (as before maps existed), served."""
    from lookalike.server.config import ServerConfig
    from lookalike.server.grpc_server import create_server

    make_collection(tmp_path / "c", model_dir, blob_vectors(200), k=4).close()
    running = create_server(tmp_path / "c", ServerConfig(port=0))
    yield f"127.0.0.1:{running.port}"
    running.stop(grace_s=1)


def test_no_map_yet_is_a_clear_409(make_web, mapless):
    from lookalike.clients.channel import make_config

    answer = make_web(target=mapless, client=make_config()).get("/api/map")
    assert answer.status_code == 409
    assert "lookalike map" in answer.json()["error"]
