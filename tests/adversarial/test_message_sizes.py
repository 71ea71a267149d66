"""Sizes in bytes: text a caller sends that reaches an error message (an id in a search, an
add or a delete; a URL) never makes the answer too big to deliver.

A call's message travels as a header (grpc-message), where a caller's 20,000-character id,
or 4,000 emoji (within the 4,096-character limit, but 16 KB of UTF-8 and 48 KB once
percent-encoded), made the client refuse the answer: RESOURCE_EXHAUSTED "received metadata
size exceeds ... limit" instead of NOT_FOUND. Every answer here has its own code, and its
message stays within server/errors.py's cap, counted in bytes of UTF-8. Raw stubs, not the
SDK: this is about what crosses the wire.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import grpc
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lookalike.indexer.ids import MAX_ID_CHARS
from lookalike.proto.v1 import lookalike_pb2 as pb
from lookalike.proto.v1 import lookalike_pb2_grpc as pb_grpc
from lookalike.server.errors import MAX_MESSAGE_BYTES
from tests.server.conftest import encode, photo, running_server

SIZES = settings(max_examples=25, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                        HealthCheck.function_scoped_fixture])
WIDE = ["😀", "𝄞", "€", "é", "x", "\x00"]  # 4, 4, 3, 2, 1 and 1 bytes of UTF-8
# Ids of every length up to past the limit: random text, one character repeated, and
# wide characters right at the limit (where characters and bytes part ways).
IDS = st.one_of(
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=40),
    st.builds(lambda c, n: c * n, st.characters(codec="utf-8"), st.integers(1, 20_000)),
    st.builds(lambda c, n: c * n, st.sampled_from(WIDE),
              st.integers(MAX_ID_CHARS - 2, MAX_ID_CHARS + 2)),
)
IMAGE = encode(photo(48, seed=5), "PNG")


@pytest.fixture(scope="module")
def stub(built_collection, tmp_path_factory) -> Iterator[pb_grpc.LookalikeStub]:
    """One server for the module over a private copy (the adds write); it fetches URLs of
    one host, which no URL below names, so no fetch ever leaves the machine."""
    folder = shutil.copytree(built_collection, tmp_path_factory.mktemp("sizes") / "c")
    with running_server(folder, fetch_hosts=("allowed.invalid",)) as (_, target):
        with grpc.insecure_channel(target) as channel:
            yield pb_grpc.LookalikeStub(channel)


def valid(row_id: str) -> bool:
    return 0 < len(row_id) <= MAX_ID_CHARS


def status(call) -> tuple[grpc.StatusCode, str]:
    try:
        call()
    except grpc.RpcError as error:
        return error.code(), error.details() or ""
    return grpc.StatusCode.OK, ""


def assert_fits(message: str) -> None:
    assert len(message.encode("utf-8")) <= MAX_MESSAGE_BYTES, len(message.encode("utf-8"))


@SIZES
@given(row_id=IDS)
@example(row_id="x" * 20_000)
@example(row_id="😀" * 4_000)
@example(row_id="😀" * MAX_ID_CHARS)
def test_search_by_an_unknown_id_of_any_size(stub, row_id):
    code, message = status(lambda: stub.Search(pb.SearchRequest(id=row_id, k=1), timeout=60))
    assert_fits(message)
    if not valid(row_id):
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, message[:200])
        assert f"1 to {MAX_ID_CHARS} characters" in message
    else:  # a short random id may happen to be stored
        assert code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.OK), (code, message[:200])
        if code == grpc.StatusCode.NOT_FOUND:
            assert message.startswith("no image with id") and message.endswith("collection")


@SIZES
@given(row_id=IDS)
@example(row_id="😀" * 4_000)
def test_a_search_stream_row_by_id_of_any_size(stub, row_id):
    (answer,) = stub.SearchStream(iter([pb.SearchStreamRequest(
        tag="t", request=pb.SearchRequest(id=row_id, k=1))]), timeout=60)
    if answer.HasField("error"):
        assert_fits(answer.error.message)
        expected = "INVALID_ARGUMENT" if not valid(row_id) else "NOT_FOUND"
        assert grpc.StatusCode[expected].value[0] == answer.error.code


@SIZES
@given(row_id=IDS, path=st.one_of(st.text(st.characters(codec="utf-8"), max_size=30),
                                  st.builds(lambda c, n: c * n, st.sampled_from(WIDE),
                                            st.integers(1, 20_000))))
@example(row_id="😀" * MAX_ID_CHARS, path="p")
@example(row_id="😀" * (MAX_ID_CHARS + 1), path="p")
def test_adding_an_id_of_any_size_twice(stub, row_id, path):
    rows = [pb.AddRequest(tag=str(n), image=IMAGE, path=path, id=row_id) for n in range(2)]
    first, second = stub.Add(iter(rows), timeout=120)
    for answer in (first, second):
        if answer.HasField("error"):
            assert_fits(answer.error.message)
    if not valid(row_id):
        assert {first.error.code, second.error.code} == {grpc.StatusCode.INVALID_ARGUMENT.value[0]}
        return
    # The first is stored unless an earlier example stored the same id; the second never.
    assert second.error.code == grpc.StatusCode.ALREADY_EXISTS.value[0]
    assert second.error.message.startswith("id ") and second.error.message.endswith("collection")
    assert first.id == row_id or first.error.code == grpc.StatusCode.ALREADY_EXISTS.value[0]


@SIZES
@given(ids=st.lists(IDS, min_size=1, max_size=3))
@example(ids=["x" * 20_000, "😀" * 4_000])
def test_deleting_ids_of_any_size(stub, ids):
    """An id no add accepts is simply not there: it comes back as missing, in the body."""
    absent = [("\x01gone" + i)[:MAX_ID_CHARS] if valid(i) else i for i in ids]  # none stored
    answer = stub.Delete(pb.DeleteRequest(ids=absent), timeout=60)
    assert answer.deleted == 0 and list(answer.missing) == absent


@SIZES
@given(tail=st.one_of(st.text(st.characters(codec="utf-8"), max_size=40),
                      st.builds(lambda c, n: c * n, st.sampled_from(WIDE),
                                st.integers(1, 20_000))))
@example(tail="😀" * 4_000)
def test_a_url_of_any_size(stub, tail):
    url = "http://refused.invalid/" + tail
    code, message = status(lambda: stub.Search(pb.SearchRequest(url=url, k=1), timeout=60))
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, message[:200])
    assert_fits(message)
