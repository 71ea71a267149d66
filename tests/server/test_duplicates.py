"""FindDuplicates over gRPC: the library's groups streamed, the calibration in Info, clear
errors for bad requests, and a cancelled call that stops its work and frees the server."""

from __future__ import annotations

import math

import grpc
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.testbed import blob_vectors, make_collection
from lookalike.common.errors import InvalidArgument
from lookalike.indexer.copies import collection_groups
from lookalike.indexer.local.collection import Collection
from lookalike.proto.v1 import lookalike_pb2 as pb
from lookalike.proto.v1 import lookalike_pb2_grpc as pb_grpc
from tests.app.test_duplicates import copies_collection
from tests.server.conftest import running_server
from tests.server.test_lifecycle import wait_for

CALL_S = 60


@pytest.fixture(scope="module")
def copies(tmp_path_factory, model_dir):
    return copies_collection(tmp_path_factory.mktemp("copies"), model_dir)


@pytest.fixture(scope="module")
def copies_server(copies):
    with running_server(copies) as (running, target), grpc.insecure_channel(target) as channel:
        yield running, pb_grpc.LookalikeStub(channel)


def groups_of(stub, **fields) -> list[pb.DuplicateGroup]:
    return list(stub.FindDuplicates(pb.FindDuplicatesRequest(**fields), timeout=CALL_S))


def test_the_stream_holds_the_librarys_groups_largest_first(copies, copies_server):
    _, stub = copies_server
    answered = groups_of(stub, threshold=0.01)
    with Collection.open(copies, read_only=True) as collection:
        expected = collection_groups(collection, 0.01)
    assert [g.group for g in answered] == list(range(1, len(expected) + 1))
    assert {g.groups for g in answered} == {len(expected)} == {3}
    assert all(g.threshold == 0.01 for g in answered)
    sizes = [len(g.members) for g in answered]
    assert sizes == sorted(sizes, reverse=True)
    for message, (group, rows) in zip(answered, expected, strict=True):
        assert [m.id for m in message.members] == [r.id for r in rows]
        assert [m.path for m in message.members] == [r.path for r in rows]
        assert [m.representative for m in message.members] == [True] + [False] * (len(rows) - 1)
        assert [m.exact for m in message.members] == group.exact.tolist()
        np.testing.assert_allclose([m.distance for m in message.members], group.distances)
    exact = {frozenset(m.id for m in g.members): g.members[1].exact for g in answered}
    assert exact == {frozenset({"im0", "im6"}): True, frozenset({"im1", "im7"}): True,
                     frozenset({"im2", "im3"}): False}


def test_without_reading_files_identical_vectors_are_the_exact_ones(copies_server):
    _, stub = copies_server
    answered = {frozenset(m.id for m in g.members): g.members[1].exact
                for g in groups_of(stub, threshold=0.01, read_files=False)}
    # 6 is 0 plus the embedding's noise: a near copy without its bytes, an exact one with
    assert answered[frozenset({"im1", "im7"})] and not answered[frozenset({"im0", "im6"})]


def test_threshold_zero_groups_exact_copies_only(copies_server):
    _, stub = copies_server
    answered = groups_of(stub, threshold=0.0)
    assert {frozenset(m.id for m in g.members) for g in answered} == {
        frozenset({"im0", "im6"}), frozenset({"im1", "im7"})}


def test_a_built_collection_answers_its_calibration_and_uses_it(built_collection):
    with running_server(built_collection) as (_, target), \
            grpc.insecure_channel(target) as channel:
        stub = pb_grpc.LookalikeStub(channel)
        info = stub.Info(pb.InfoRequest(), timeout=CALL_S)
        assert info.HasField("duplicate_calibration")
        c = info.duplicate_calibration
        assert 0 <= c.strict <= c.threshold <= c.loose
        for preset, expected in ((pb.DUPLICATE_PRESET_CALIBRATED, c.threshold),
                                 (pb.DUPLICATE_PRESET_STRICT, c.strict),
                                 (pb.DUPLICATE_PRESET_LOOSE, c.loose)):
            # The threshold used is echoed on every group; with none, the stream is empty.
            answered = groups_of(stub, preset=preset)
            assert all(math.isclose(g.threshold, expected) for g in answered)


def test_a_collection_without_calibration_has_none_in_info(copies_server):
    _, stub = copies_server
    assert not stub.Info(pb.InfoRequest(), timeout=CALL_S).HasField("duplicate_calibration")


@pytest.mark.parametrize("fields, says", [
    ({"threshold": -1.0}, "at least 0"),
    ({"threshold": math.nan}, "NaN"),
    ({"threshold": math.inf}, "one group"),
    ({"threshold": 10.0}, "one group"),
    ({"threshold": 0.5, "preset": pb.DUPLICATE_PRESET_STRICT}, "not both"),
    ({"preset": 7}, "no duplicate preset"),
    ({"nprobe": -1}, "nprobe"),
    ({}, "no calibrated duplicate threshold"),
    ({"preset": pb.DUPLICATE_PRESET_LOOSE}, "no calibrated duplicate threshold"),
])
def test_a_bad_request_is_invalid_argument_saying_why(copies_server, fields, says):
    _, stub = copies_server
    with pytest.raises(grpc.RpcError) as info:
        groups_of(stub, **fields)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert says in info.value.details()


@pytest.mark.parametrize("n", [0, 1])
def test_too_few_images_are_a_failed_precondition(tmp_path, model_dir, n):
    folder = tmp_path / "c"
    vectors = blob_vectors(2)
    make_collection(folder, model_dir, vectors, k=1, ids=["a", "b"]).close()
    with running_server(folder) as (_, target), grpc.insecure_channel(target) as channel:
        stub = pb_grpc.LookalikeStub(channel)
        stub.Delete(pb.DeleteRequest(ids=["a", "b"][:2 - n]), timeout=CALL_S)
        with pytest.raises(grpc.RpcError) as info:
            groups_of(stub, threshold=0.1)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert f"holds {n} image" in info.value.details()


@pytest.fixture(scope="module")
def large(tmp_path_factory, model_dir):
    """40,000 vectors in 100 clusters: searching each cluster for every image (nprobe 100)
    takes seconds, hundreds of range searches, each begun after asking the caller."""
    folder = tmp_path_factory.mktemp("large") / "c"
    make_collection(folder, model_dir, blob_vectors(40_000, centres=100), k=100).close()
    return folder


def test_a_cancelled_call_stops_its_work_and_frees_the_server(large):
    with running_server(large, max_concurrent_rpcs=1) as (running, target), \
            grpc.insecure_channel(target) as channel:
        stub = pb_grpc.LookalikeStub(channel)
        metrics = running.metrics

        def steps() -> float:
            return metrics.value("lookalike_duplicate_steps_total")

        def abandoned() -> float:
            return metrics.value("lookalike_abandoned_total", {"stage": "duplicates"})

        call = stub.FindDuplicates(pb.FindDuplicatesRequest(threshold=1e-4, nprobe=100,
                                                            read_files=False), timeout=600)
        wait_for(lambda: steps() >= 3, 120)  # the range searches are under way
        call.cancel()
        wait_for(lambda: abandoned() == 1, 60)
        stopped_at = steps()
        # Every one of the 100 clusters takes at least one range search: most never began.
        assert stopped_at < 100
        with pytest.raises(grpc.RpcError) as info:
            list(call)
        assert info.value.code() == grpc.StatusCode.CANCELLED

        def answers() -> bool:  # the one call slot is free again once the handler let go
            try:
                return stub.Info(pb.InfoRequest(), timeout=CALL_S).count == 40_000
            except grpc.RpcError as err:
                assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                return False

        wait_for(answers, 60)
        assert steps() == stopped_at  # nothing went on behind the cancelled call
        answered = groups_of(stub, threshold=1e-4, nprobe=1, read_files=False)
        assert all(len(g.members) >= 2 for g in answered)


REQUEST_FIELDS = st.fixed_dictionaries({}, optional={
    "threshold": st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                           st.floats(0, 0.05), st.just(0.0)),
    "preset": st.one_of(st.sampled_from([0, 1, 2]), st.integers(-(2**31), 2**31 - 1)),
    "nprobe": st.one_of(st.integers(0, 3), st.integers(-(2**31), 2**31 - 1)),
    "read_files": st.booleans(),
})


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=REQUEST_FIELDS)
def test_any_request_gets_the_librarys_groups_or_a_clear_invalid_argument(
        copies, copies_server, fields):
    _, stub = copies_server
    preset, nprobe = fields.get("preset", 0), fields.get("nprobe", 0)
    threshold = fields.get("threshold")
    try:
        if preset not in (0, 1, 2) or nprobe < 0 or (threshold is not None and preset):
            raise InvalidArgument("refused before any search")
        if threshold is None:
            raise InvalidArgument("no calibration: a threshold is needed")
        with Collection.open(copies, read_only=True) as collection:
            want = [[(r.id, bool(e)) for r, e in zip(f.rows, f.group.exact, strict=True)]
                    for f in collection_groups(collection, threshold, nprobe or None,
                                               fields.get("read_files", True))]
    except InvalidArgument:
        with pytest.raises(grpc.RpcError) as info:
            groups_of(stub, **fields)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert info.value.details()  # a message, never a traceback
        assert "Traceback" not in info.value.details()
        return
    answered = groups_of(stub, **fields)
    assert [[(m.id, m.exact) for m in g.members] for g in answered] == want
    assert all(g.threshold == threshold for g in answered)
