"""Build from generated images, serve on a free port, and query over real gRPC."""

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from lookalike.clients import Client
from lookalike.common.errors import InvalidArgument, InvalidImage, NotFound
from lookalike.proto.v1 import lookalike_pb2 as pb
from lookalike.proto.v1 import lookalike_pb2_grpc as pb_grpc


@pytest.fixture
def stub(served):
    _, target = served
    with grpc.insecure_channel(target) as channel:
        yield pb_grpc.LookalikeStub(channel), channel


def test_stored_image_searched_by_bytes_comes_back_first(served, image_folder):
    _, target = served
    with Client(target) as client:
        for path in sorted(image_folder.iterdir())[:6]:
            result = client.search(path.read_bytes(), k=5)
            first = result.neighbors[0]
            assert first.path == str(path.resolve())
            assert first.distance == pytest.approx(0.0, abs=1e-4)
            assert first.cluster == result.cluster
            assert [n.distance for n in result.neighbors] == sorted(
                n.distance for n in result.neighbors)


def test_search_by_id_leaves_the_image_itself_out(served):
    _, target = served
    with Client(target) as client:
        result = client.search(id="3", k=4)
    assert len(result.neighbors) == 4 and "3" not in [n.id for n in result.neighbors]


def test_health_is_serving_and_info_describes_the_collection(served):
    running, target = served
    with Client(target) as client:
        assert client.health() == "SERVING"
        info = client.info()
    assert info.count == 48 and info.clusters == 4 and sum(info.cluster_sizes) == 48
    assert info.embedding_dim == running.engine.embedder.dim and info.input_size == 64
    assert 1 <= info.default_nprobe <= 4 and len(info.model_fingerprint) == 16


@pytest.mark.parametrize(
    ("request_", "code", "words"),
    [
        (pb.SearchRequest(image=b"", k=5), grpc.StatusCode.INVALID_ARGUMENT, "empty"),
        (pb.SearchRequest(image=b"\x89PNG garbage" * 10, k=5),
         grpc.StatusCode.INVALID_ARGUMENT, "not an image"),
        (pb.SearchRequest(id="3", k=0), grpc.StatusCode.INVALID_ARGUMENT, "k must be at least 1"),
        (pb.SearchRequest(id="3", k=-4), grpc.StatusCode.INVALID_ARGUMENT, "k must be at least 1"),
        (pb.SearchRequest(id="3", k=10**6), grpc.StatusCode.INVALID_ARGUMENT, "at most 1000"),
        (pb.SearchRequest(id="no-such-id", k=5), grpc.StatusCode.NOT_FOUND, "no-such-id"),
        (pb.SearchRequest(k=5), grpc.StatusCode.INVALID_ARGUMENT, "no query"),
        (pb.SearchRequest(vector=pb.Vector(values=[0.0] * 3), k=5),
         grpc.StatusCode.INVALID_ARGUMENT, "3 values"),
        (pb.SearchRequest(url="http://127.0.0.1:1/x.png", k=5),
         grpc.StatusCode.INVALID_ARGUMENT, "does not fetch URLs"),
    ],
)
def test_bad_requests_get_the_right_status_and_a_readable_message(stub, request_, code, words):
    search, _ = stub
    with pytest.raises(grpc.RpcError) as info:
        search.Search(request_, timeout=10)
    assert info.value.code() == code
    assert words in info.value.details()
    assert "Traceback" not in info.value.details()


def test_sdk_raises_the_domain_errors(served):
    _, target = served
    with Client(target) as client:
        with pytest.raises(InvalidImage, match="not an image"):
            client.search(b"garbage bytes")
        with pytest.raises(NotFound, match="no-such-id"):
            client.search(id="no-such-id")
        with pytest.raises(InvalidArgument, match="k must be"):
            client.search(id="3", k=0)


def test_bad_stream_rows_answer_alone_and_the_stream_goes_on(served, image_folder):
    _, target = served
    good = sorted(image_folder.iterdir())[0]
    with Client(target) as client:
        out = list(client.search_many([good, b"junk", image_folder / "missing.png", good], k=3))
    assert out[0].neighbors[0].path == str(good.resolve())
    assert isinstance(out[1], InvalidImage)
    assert isinstance(out[2], NotFound)
    assert out[3].neighbors[0].path == str(good.resolve())


def test_add_then_delete_over_grpc(served, tmp_path):
    from benchmarks.testbed import make_images

    _, target = served
    new = make_images(tmp_path / "new", count=2, seed=99)
    with Client(target) as client:
        added = client.add(new, ids=["fresh-a", None])
        assert added[0].id == "fresh-a" and added[1].id
        assert client.search(new[0], k=1).neighbors[0].id == "fresh-a"
        assert client.info().count == 50
        assert client.delete(["fresh-a", "nope"]) == (1, ["nope"])
        assert "fresh-a" not in [n.id for n in client.search(new[0], k=5).neighbors]


def test_reflection_and_standard_health_are_served(served):
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    _, target = served
    with grpc.insecure_channel(target) as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="lookalike.v1.Lookalike"), timeout=5)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        answers = stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
        names = {s.name for a in answers for s in a.list_services_response.service}
    assert {"lookalike.v1.Lookalike", "grpc.health.v1.Health"} <= names
