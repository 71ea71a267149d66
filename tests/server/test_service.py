"""The gRPC surface: every kind of query, every bad input's code and message, streams, Info."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from PIL import Image

from lookalike.proto.v1 import lookalike_pb2 as pb

from .conftest import encode, photo

INVALID = grpc.StatusCode.INVALID_ARGUMENT


def search_error(stub, request: pb.SearchRequest) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        stub.Search(request, timeout=20)
    assert "Traceback" not in info.value.details()
    return info.value


def test_a_stored_image_sent_as_bytes_finds_itself_first(stub, image_folder):
    path = sorted(image_folder.iterdir())[0]
    response = stub.Search(pb.SearchRequest(image=path.read_bytes(), k=3), timeout=20)
    assert response.neighbors[0].path == str(path.resolve())
    assert response.neighbors[0].distance == pytest.approx(0.0, abs=1e-4)
    assert len(response.neighbors) == 3


def test_a_raw_vector_of_the_right_size_is_searched(stub, shared_server):
    running, _ = shared_server
    vector = running.engine.collection.lookup("5")[1]
    response = stub.Search(pb.SearchRequest(vector=pb.Vector(values=vector.tolist()), k=2),
                           timeout=20)
    assert response.neighbors[0].id == "5"


def test_a_stored_id_leaves_itself_out_and_honours_nprobe(stub, shared_server):
    running, _ = shared_server
    nlist = running.engine.info().clusters
    response = stub.Search(pb.SearchRequest(id="4", k=47, nprobe=nlist), timeout=20)
    assert len(response.neighbors) == 47 and "4" not in {n.id for n in response.neighbors}


@pytest.mark.parametrize(
    ("fmt", "params"),
    [("JPEG", {}), ("PNG", {}), ("WEBP", {}), ("BMP", {}), ("TIFF", {}),
     ("GIF", {"save_all": True, "append_images": [photo(seed=9)], "duration": 50})],
)
def test_every_allowed_format_is_searched(stub, fmt, params):
    response = stub.Search(pb.SearchRequest(image=encode(photo(), fmt, **params), k=2),
                           timeout=20)
    assert len(response.neighbors) == 2


def test_an_animated_gif_is_searched_by_its_first_frame(stub):
    first, second = photo(seed=3), photo(seed=4)
    animated = encode(first, "GIF", save_all=True, append_images=[second], duration=50)
    still = encode(first, "GIF")
    a = stub.Search(pb.SearchRequest(image=animated, k=3), timeout=20)
    b = stub.Search(pb.SearchRequest(image=still, k=3), timeout=20)
    assert [n.id for n in a.neighbors] == [n.id for n in b.neighbors]


@pytest.mark.parametrize(
    ("request_", "words"),
    [
        (pb.SearchRequest(image=b"", k=5), "the image is empty (0 bytes)"),
        (pb.SearchRequest(image=b"\x00\x01 not an image at all" * 20, k=5), "not an image"),
        (pb.SearchRequest(image=encode(photo(), "PPM"), k=5), "format PPM is not accepted"),
        (pb.SearchRequest(image=encode(photo(), "JPEG")[:400], k=5), "truncated"),
        (pb.SearchRequest(image=encode(photo(), "PNG")[:300], k=5), "truncated"),
        (pb.SearchRequest(id="3", k=0), "k must be at least 1, got 0"),
        (pb.SearchRequest(id="3", k=-4), "k must be at least 1, got -4"),
        (pb.SearchRequest(id="3", k=1001), "k must be at most 1000, got 1001"),
        (pb.SearchRequest(id="3", k=5, nprobe=-1), "nprobe must be 0"),
        (pb.SearchRequest(k=5), "no query given"),
        (pb.SearchRequest(id="", k=5), "the query id is empty"),
        (pb.SearchRequest(vector=pb.Vector(values=[0.5] * 3), k=5), "has 3 values"),
        (pb.SearchRequest(url="http://example.com/a.jpg", k=5), "does not fetch URLs"),
    ],
)
def test_bad_requests_are_invalid_argument_with_a_clear_message(stub, request_, words):
    error = search_error(stub, request_)
    assert error.code() == INVALID
    assert words.lower() in error.details().lower()


def test_an_unknown_id_is_not_found(stub):
    error = search_error(stub, pb.SearchRequest(id="no-such-image", k=5))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "no image with id 'no-such-image'" in error.details()
    assert dict(error.trailing_metadata())["lookalike-error"] == "NotFound"


def test_the_stream_echoes_tags_keeps_order_and_survives_bad_rows(stub, image_folder):
    paths = sorted(image_folder.iterdir())[:12]
    rows = [pb.SearchStreamRequest(tag=f"row-{i}", request=pb.SearchRequest(
        image=p.read_bytes(), k=2)) for i, p in enumerate(paths)]
    rows.insert(3, pb.SearchStreamRequest(tag="bad-bytes",
                                          request=pb.SearchRequest(image=b"junk", k=2)))
    rows.insert(7, pb.SearchStreamRequest(tag="bad-k", request=pb.SearchRequest(id="1", k=0)))
    rows.insert(9, pb.SearchStreamRequest(tag="unknown", request=pb.SearchRequest(id="zz", k=1)))
    answers = list(stub.SearchStream(iter(rows), timeout=60))
    assert [a.tag for a in answers] == [r.tag for r in rows]
    by_tag = {a.tag: a for a in answers}
    assert by_tag["bad-bytes"].error.kind == "InvalidImage"
    assert by_tag["bad-bytes"].error.code == INVALID.value[0]
    assert "k must be at least 1" in by_tag["bad-k"].error.message
    assert by_tag["unknown"].error.code == grpc.StatusCode.NOT_FOUND.value[0]
    for i, path in enumerate(paths):
        assert by_tag[f"row-{i}"].response.neighbors[0].path == str(path.resolve())


def test_the_stream_answers_a_row_before_the_next_one_is_sent(stub, image_folder):
    """A client may wait for each answer before sending more; the server must not wait."""
    import queue

    outbox: queue.Queue = queue.Queue()
    answers = stub.SearchStream(iter(outbox.get, None), timeout=60)
    data = sorted(image_folder.iterdir())[0].read_bytes()
    for i in range(3):
        outbox.put(pb.SearchStreamRequest(tag=str(i), request=pb.SearchRequest(image=data, k=1)))
        assert next(answers).tag == str(i)
    outbox.put(None)
    assert list(answers) == []


def test_info_describes_model_sizes_clusters_and_versions(stub, shared_server):
    running, _ = shared_server
    info = stub.Info(pb.InfoRequest(), timeout=20)
    engine = running.engine
    assert info.count == 48 and sum(info.cluster_sizes) == 48
    assert info.clusters == len(info.cluster_sizes) == 4
    assert info.embedding_dim == engine.embedder.dim and info.input_size == 64
    assert '"embed_dim"' in info.model_config_json
    assert len(info.model_fingerprint) == 16 and 1 <= info.default_nprobe <= 4
    assert info.format_version and info.software_version
    assert info.imbalance >= 1.0
    # The session's collection was fine-tuned from the shipped base model, and says so.
    from lookalike.encoder.pretrained import load_base

    assert info.base_model == load_base().fingerprint


def test_health_is_serving_for_the_server_and_the_service(shared_server):
    _, target = shared_server
    with grpc.insecure_channel(target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "lookalike.v1.Lookalike"):
            response = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
            assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_services(shared_server):
    _, target = shared_server
    with grpc.insecure_channel(target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        response = next(stub.ServerReflectionInfo(iter([request]), timeout=10))
    names = {s.name for s in response.list_services_response.service}
    assert {"lookalike.v1.Lookalike", "grpc.health.v1.Health"} <= names


def test_a_bug_becomes_internal_with_no_details_leaked():
    from lookalike.server.errors import INTERNAL_MESSAGE, row_error

    error = row_error(RuntimeError("secret path /etc/x"))
    assert error.code == grpc.StatusCode.INTERNAL.value[0]
    assert error.message == INTERNAL_MESSAGE and "secret" not in error.message


def test_a_grey_png_with_alpha_is_searched(stub):
    image = Image.new("LA", (40, 40), (128, 100))
    assert stub.Search(pb.SearchRequest(image=encode(image, "PNG"), k=1), timeout=20).neighbors
