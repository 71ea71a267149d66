"""find_duplicates in both SDK clients: typed groups, the calibration in info, bad arguments
refused before the wire or by the server."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lookalike.clients import DuplicateCalibration, DuplicateGroup, DuplicateMember
from lookalike.clients.duplicates import PRESETS, duplicates_request
from lookalike.common.errors import CollectionError, InvalidArgument
from tests.app.test_duplicates import copies_collection
from tests.server.conftest import running_server


@pytest.fixture(scope="module")
def copies_target(tmp_path_factory, model_dir):
    folder = copies_collection(tmp_path_factory.mktemp("copies"), model_dir)
    with running_server(folder) as (running, target):
        yield running, target


def _groups(caller, *args, **kwargs) -> list[DuplicateGroup]:
    async def collect(stream):
        return [g async for g in stream]

    stream = caller("find_duplicates", *args, **kwargs)
    if hasattr(stream, "__aiter__"):
        return caller._run(lambda: collect(stream))
    return list(stream)


def test_groups_come_back_typed_largest_first(connect, copies_target):
    _, target = copies_target
    groups = _groups(connect(target), 0.01)
    assert [g.group for g in groups] == [1, 2, 3] and {g.groups for g in groups} == {3}
    for g in groups:
        assert isinstance(g, DuplicateGroup) and g.threshold == 0.01
        assert all(isinstance(m, DuplicateMember) for m in g.members)
        assert g.representative is g.members[0] and g.representative.representative
        assert g.representative.exact and g.representative.distance == 0
    by_ids = {frozenset(m.id for m in g.members): g for g in groups}
    near = by_ids[frozenset({"im2", "im3"})]
    assert near.representative.id == "im2" and not near.members[1].exact
    assert 0 < near.members[1].distance <= 0.01
    assert by_ids[frozenset({"im0", "im6"})].members[1].exact


def test_info_carries_the_calibration_or_none(connect, copies_target, shared_target):
    _, target = copies_target
    assert connect(target)("info").duplicate_calibration is None
    calibrated = connect(shared_target)("info").duplicate_calibration
    assert isinstance(calibrated, DuplicateCalibration)
    assert 0 <= calibrated.strict <= calibrated.threshold <= calibrated.loose


@pytest.mark.parametrize("args, kwargs, error, says", [
    ((-1.0,), {}, InvalidArgument, "at least 0"),
    ((math.nan,), {}, InvalidArgument, "NaN"),
    ((50.0,), {}, InvalidArgument, "one group"),
    (("0.1",), {}, InvalidArgument, "is a number"),
    ((0.1,), {"preset": "strict"}, InvalidArgument, "not both"),
    ((), {"preset": "medium"}, InvalidArgument, "no duplicate preset"),
    ((), {}, InvalidArgument, "no calibrated duplicate threshold"),
    ((0.1,), {"nprobe": -2}, InvalidArgument, "nprobe"),
    ((0.1,), {"nprobe": 2**40}, InvalidArgument, "out of range"),
])
def test_bad_arguments_raise_domain_errors(connect, copies_target, args, kwargs, error, says):
    _, target = copies_target
    with pytest.raises(error, match=says):
        _groups(connect(target), *args, **kwargs)


def test_too_few_images_raise_collection_error(connect, tmp_path, model_dir):
    from benchmarks.testbed import blob_vectors, make_collection

    make_collection(tmp_path / "c", model_dir, blob_vectors(1), k=1).close()
    with running_server(tmp_path / "c") as (_, target):
        with pytest.raises(CollectionError, match="holds 1 image"):
            _groups(connect(target), 0.1)


@given(threshold=st.one_of(st.none(), st.floats(), st.integers(-10, 10), st.text(max_size=3),
                           st.booleans()),
       preset=st.sampled_from([None, "calibrated", "strict", "loose", "", "STRICT", 1]),
       nprobe=st.one_of(st.none(), st.integers(-(2**40), 2**40)), read_files=st.booleans())
def test_a_request_is_built_faithfully_or_refused_as_invalid(threshold, preset, nprobe,
                                                             read_files):
    try:
        request = duplicates_request(threshold, preset, nprobe, read_files)
    except InvalidArgument:
        bad_threshold = threshold is not None and (
            isinstance(threshold, (bool, str)) or preset in ("strict", "loose"))
        bad_nprobe = nprobe is not None and not -(2**31) <= nprobe < 2**31
        assert bad_threshold or bad_nprobe or preset not in PRESETS
        return
    assert request.HasField("threshold") == (threshold is not None)
    if threshold is not None:
        assert request.threshold == float(threshold) or math.isnan(threshold)
    assert request.preset == PRESETS[preset] and request.nprobe == (nprobe or 0)
    assert request.read_files is read_files and request.HasField("read_files")
