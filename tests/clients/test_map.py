"""The Map call through a real server and both clients: the map a build keeps, chunks, images
added since placed near their neighbours, deleted ones gone, a collection without a map, and
`lookalike map` run beside the server."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lookalike.app.cli import main
from lookalike.common import recipe
from lookalike.common.errors import CollectionError, InvalidArgument, NoMap
from lookalike.indexer.map_file import MAP_FILE, read_map
from lookalike.proto.v1 import lookalike_pb2 as pb
from lookalike.proto.v1 import lookalike_pb2_grpc as pb_grpc
from lookalike.server.config import ServerConfig
from lookalike.server.grpc_server import create_server


def test_the_build_keeps_a_map_and_every_client_gets_it_whole(served, connect,
                                                             collection_copy):
    kept = read_map(collection_copy)
    got = connect(served[1])("map")
    items = {i.id: i for i in connect(served[1])("browse", page_size=1000).items}
    assert sorted(got.ids) == sorted(items) == sorted(kept.ids) and len(got) == 48
    assert got.version == kept.version
    assert got.xy.shape == (48, 2) and got.xy.dtype == np.float32
    where = {i: n for n, i in enumerate(kept.ids)}
    assert np.array_equal(got.xy, kept.xy[[where[i] for i in got.ids]])
    assert [int(c) for c in got.clusters] == [items[i].cluster for i in got.ids]
    assert not got.placed.any()
    assert got.xy.std(0).min() > 0  # spread out, not one point


def test_chunks_hold_at_most_chunk_size_points_and_one_version(served):
    with grpc.insecure_channel(served[1]) as channel:
        chunks = list(pb_grpc.LookalikeStub(channel).Map(pb.MapRequest(chunk_size=5),
                                                         timeout=30))
    assert [len(c.ids) for c in chunks] == [5] * 9 + [3]
    assert len({c.map_version for c in chunks}) == 1
    assert all(len(c.x) == len(c.y) == len(c.clusters) == len(c.placed) == len(c.ids)
               for c in chunks)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=st.integers(-2**31, 2**31 - 1))
def test_any_chunk_size_streams_or_is_invalid_argument(served, size):
    with grpc.insecure_channel(served[1]) as channel:
        stub = pb_grpc.LookalikeStub(channel)
        try:
            chunks = list(stub.Map(pb.MapRequest(chunk_size=size), timeout=30))
        except grpc.RpcError as err:
            assert not 0 <= size <= 50_000
            assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "chunk_size" in err.details()
            return
    assert 0 <= size <= 50_000
    assert sum(len(c.ids) for c in chunks) == 48
    assert all(len(c.ids) <= (size or 10_000) for c in chunks)


def test_the_sdk_refuses_a_chunk_size_out_of_range(served, connect):
    with pytest.raises(InvalidArgument, match="chunk_size"):
        connect(served[1])("map", chunk_size=50_001)


def test_an_added_image_is_placed_at_its_mapped_neighbours_and_a_deleted_one_is_gone(
        served, connect, image_folder):
    client = connect(served[1])
    before = client("map")
    image = sorted(image_folder.iterdir())[7]
    (added,) = client("add", [str(image)], ids=["newcomer"])
    after = client("map")
    assert after.version == before.version
    at = after.ids.index("newcomer")
    assert after.placed[at] and after.placed.sum() == 1
    assert int(after.clusters[at]) == added.cluster
    # Where it must be: the mean of its nearest mapped neighbours, by the store's own search.
    near = [n.id for n in client("search", id="newcomer", k=20).neighbors]
    mapped = {i: before.xy[n] for n, i in enumerate(before.ids)}
    expected = np.mean([mapped[i] for i in near[:recipe.MAP_NEIGHBOURS]], 0)
    assert np.allclose(after.xy[at], expected, atol=1e-4)
    # The same file's own point is among those neighbours: the newcomer lands near it, far
    # nearer than a typical pair of points is.
    twin = client("search", str(image), k=2).neighbors
    original = next(n.id for n in twin if n.id != "newcomer")
    spread = np.median(np.linalg.norm(before.xy[:, None] - before.xy[None], axis=-1))
    assert np.linalg.norm(after.xy[at] - mapped[original]) < spread / 2
    gone = before.ids[3]
    assert client("delete", [gone, "newcomer"]) == (2, [])
    last = client("map")
    assert gone not in last.ids and "newcomer" not in last.ids and len(last) == 47
    assert not last.placed.any()


def test_no_map_is_a_clear_error_until_lookalike_map_makes_one(collection_copy, connect,
                                                               capsys):
    (collection_copy / MAP_FILE).unlink()  # as a collection built before maps
    running = create_server(collection_copy, ServerConfig(port=0))
    try:
        client = connect(f"127.0.0.1:{running.port}")
        with pytest.raises(NoMap, match=f"lookalike map {collection_copy}"):
            client("map")
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel, \
                pytest.raises(grpc.RpcError) as raised:
            list(pb_grpc.LookalikeStub(channel).Map(pb.MapRequest(), timeout=30))
        assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        # Beside the running server (it holds the folder): the next call sees the new map.
        assert main(["map", str(collection_copy), "--seed", "3"]) == 0
        assert "mapped 48 images" in capsys.readouterr().out
        got = client("map")
        assert len(got) == 48 and got.version == read_map(collection_copy).version
        assert main(["map", str(collection_copy)]) == 0
        assert client("map").version != got.version  # recomputed: a new version
    finally:
        running.stop(grace_s=1)


def test_a_damaged_map_file_is_a_collection_error_naming_the_command(collection_copy,
                                                                     connect):
    (collection_copy / MAP_FILE).write_bytes(b"PK\x03\x04 not a zip at all")
    running = create_server(collection_copy, ServerConfig(port=0))
    try:
        with pytest.raises(CollectionError, match="lookalike map"):
            connect(f"127.0.0.1:{running.port}")("map")
    finally:
        running.stop(grace_s=1)
