"""URL queries when the operator turns server-side fetching on (loopback servers only)."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading

import grpc
import pytest

from lookalike.proto.v1 import lookalike_pb2 as pb

from .conftest import encode, photo, running_server


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def image_site(image_folder, tmp_path_factory):
    """A loopback web server with two of the collection's images and one big image."""
    site = tmp_path_factory.mktemp("site")
    for path in sorted(image_folder.iterdir())[:2]:
        shutil.copy(path, site / path.name)
    (site / "big.png").write_bytes(encode(photo(size=200), "PNG"))
    handler = functools.partial(Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def fetching_server(built_collection):
    with running_server(built_collection, fetch_hosts=("127.0.0.1",),
                        fetch_networks=("127.0.0.1/32",), fetch_max_bytes=20_000) as pair:
        yield pair


def search_url(target: str, url: str) -> pb.SearchResponse:
    with grpc.insecure_channel(target) as channel:
        from lookalike.proto.v1 import lookalike_pb2_grpc as pb_grpc

        return pb_grpc.LookalikeStub(channel).Search(pb.SearchRequest(url=url, k=2), timeout=30)


def test_an_allowed_url_is_fetched_and_searched(fetching_server, image_site, image_folder):
    name = sorted(p.name for p in image_folder.iterdir())[1]  # copied onto the site
    response = search_url(fetching_server[1], f"{image_site}/{name}")
    assert response.neighbors[0].path == str((image_folder / name).resolve())


@pytest.mark.parametrize(
    ("url", "code", "words"),
    [
        ("http://localhost:{port}/img_000.jpg", grpc.StatusCode.INVALID_ARGUMENT,
         "not on this server's fetch allow-list"),
        ("http://127.0.0.1:{port}/missing.png", grpc.StatusCode.NOT_FOUND, "HTTP 404"),
        ("file:///etc/passwd", grpc.StatusCode.INVALID_ARGUMENT, "not an http(s) URL"),
    ],
)
def test_refused_urls_get_clear_errors(fetching_server, image_site, url, code, words):
    port = image_site.rsplit(":", 1)[1]
    with pytest.raises(grpc.RpcError) as info:
        search_url(fetching_server[1], url.format(port=port))
    assert info.value.code() == code and words in info.value.details()


def test_a_fetched_body_over_the_cap_is_resource_exhausted(fetching_server, image_site):
    with pytest.raises(grpc.RpcError) as info:
        search_url(fetching_server[1], f"{image_site}/big.png")
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "over the cap of 20,000" in info.value.details()


def test_loopback_is_refused_unless_its_network_is_allowed(built_collection, image_site):
    with running_server(built_collection, fetch_hosts=("127.0.0.1",)) as (_, target):
        with pytest.raises(grpc.RpcError) as info:
            search_url(target, f"{image_site}/img_000.jpg")
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "resolves to loopback address 127.0.0.1" in info.value.details()
