"""The synchronous SDK against a real server: every form of query, bad queries, plots.

What both clients must do alike is in test_parity.py."""

from __future__ import annotations

import http.server
import threading
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lookalike.clients import Client, SearchResult
from lookalike.common.errors import InvalidArgument, InvalidImage, NotFound


@pytest.fixture(scope="module")
def http_images(image_folder: Path):
    """The image folder over HTTP on loopback; yields its base URL."""
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(image_folder))
    handler.log_message = lambda *a: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def first(image_folder: Path) -> Path:
    return sorted(image_folder.iterdir())[0]


def test_search_accepts_path_str_bytes_pil_array_and_url(shared_target, image_folder,
                                                        http_images):
    path = first(image_folder)
    pil = Image.open(path)
    forms = [path, str(path), path.read_bytes(), pil, np.asarray(pil.convert("RGB")),
             f"{http_images}/{path.name}"]
    with Client(shared_target) as client:
        results = [client.search(form, k=3) for form in forms]
    for result in results:
        assert isinstance(result, SearchResult)
        assert result.neighbors[0].path == str(path.resolve())
        assert result.neighbors[0].distance == pytest.approx(0.0, abs=1e-4)
        assert result.cluster == result.neighbors[0].cluster
    assert results[1].query == str(path)


def test_search_by_id_and_vector(shared_target):
    with Client(shared_target) as client:
        by_id = client.search(id="5", k=3)
        dim = client.info().embedding_dim
        by_vector = client.search(vector=np.zeros(dim, np.float32), k=2)
    assert "5" not in [n.id for n in by_id.neighbors] and len(by_id.neighbors) == 3
    assert len(by_vector.neighbors) == 2


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({}, InvalidArgument, "give exactly one of image, id or vector (got none)"),
        ({"image": b"x", "id": "3"}, InvalidArgument, "got ['image', 'id']"),
        ({"image": 3.5}, InvalidArgument, "cannot search by a float"),
        ({"image": np.zeros((4, 4), np.float32)}, InvalidArgument, "must be uint8"),
        ({"image": "/no/such/file.jpg"}, NotFound, "no such file: /no/such/file.jpg"),
        ({"image": "http://127.0.0.1:9/x.jpg"}, NotFound, "could not fetch"),
        ({"image": b"not an image"}, InvalidImage, "not an image Pillow can read"),
        ({"id": "3", "k": 0}, InvalidArgument, "k must be at least 1"),
    ],
)
def test_bad_queries_raise_the_domain_error(shared_target, kwargs, error, words):
    with Client(shared_target) as client, pytest.raises(error) as info:
        client.search(**kwargs)
    assert words in str(info.value)


def test_add_checks_lengths(shared_target):
    with Client(shared_target) as client, pytest.raises(InvalidArgument,
                                                 match="got 1 images but 2 ids"):
        client.add([b"x"], ids=["a", "b"])


def test_client_options_are_checked():
    with pytest.raises(InvalidArgument, match="timeout must be more than 0"):
        Client("127.0.0.1:1", timeout=0)
    with pytest.raises(InvalidArgument, match="without line breaks"):
        Client("127.0.0.1:1", token="a\nb")
    with pytest.raises(InvalidArgument, match="cannot read root certificates"):
        Client("127.0.0.1:1", root_certificates="/no/such/ca.pem")


def test_plot_writes_a_grid_png(shared_target, image_folder, tmp_path):
    with Client(shared_target) as client:
        result = client.search(first(image_folder), k=7)
        out = client.plot(result, tmp_path / "plot.png", columns=4)
    with Image.open(out) as png:
        width, height = png.size
    assert png.format == "PNG" and width == 4 * 190 and height == 2 * 225  # 2 rows of 4


def test_search_many_refuses_an_async_iterable(shared_target):
    async def images():
        yield b"x"

    with Client(shared_target) as client, pytest.raises(InvalidArgument,
                                                        match="needs AsyncClient"):
        list(client.search_many(images()))
