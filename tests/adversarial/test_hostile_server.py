"""Both clients against a server that breaks the lookalike.v1 contract (hostile_server.py).

Every malformed, repeated, mislabelled or missing answer must come out as a lookalike
error: BadAnswer for the call, or for the one row it concerns, so the rows the server did
answer keep their outcome. Never a KeyError, ValueError or an answer read as empty.
"""

from __future__ import annotations

import pytest

from lookalike.clients import BadAnswer, SearchResult
from lookalike.common.errors import LookalikeError
from lookalike.proto.v1 import lookalike_pb2 as pb

from .hostile_server import Script, add_answers, stream_answers

IMAGE = b"any bytes: this server decodes nothing"


def field(number: int, wire_type: int, payload: bytes) -> bytes:
    """One protobuf field by hand: its key, then a varint or a length-prefixed payload."""
    key = bytes([number << 3 | wire_type])
    return key + (payload if wire_type == 0 else bytes([len(payload)]) + payload)


# A SearchResponse whose neighbour list arrives as a number: protobuf alone reads that as
# "no neighbours".
NEIGHBORS_AS_A_NUMBER = field(1, 0, b"\x05") + field(2, 0, b"\x07")
# A neighbour whose distance arrives as text.
DISTANCE_AS_TEXT = field(2, 2, field(1, 2, b"n1") + field(3, 2, b"near"))


# Add: every row gets its own outcome, whatever the server leaves out.
def test_an_add_stream_ended_after_3_of_6_rows_reports_each_unanswered_row(hostile):
    client = hostile(Script(add=lambda requests: add_answers(requests)[:3]))
    outcomes = client("add", [IMAGE] * 6, ids=[f"id-{n}" for n in range(6)])
    assert [o.id for o in outcomes[:3]] == ["id-0", "id-1", "id-2"]
    for n, outcome in enumerate(outcomes[3:], start=3):
        assert isinstance(outcome, BadAnswer)
        assert f"without answering image {n}; it may or may not be stored" in str(outcome)


@pytest.mark.parametrize("tag", ["", "x", "99", "03", " 1", "1.0", "-1"])
def test_add_answers_under_tags_that_name_no_row_leave_those_rows_unanswered(hostile, tag):
    def mislabel(requests):
        answers = add_answers(requests)
        answers[1].tag = tag
        return answers

    outcomes = hostile(Script(add=mislabel))("add", [IMAGE] * 3, ids=["a", "b", "c"])
    assert [o.id for o in outcomes[::2]] == ["a", "c"]
    assert isinstance(outcomes[1], BadAnswer) and "without answering image 1" in str(
        outcomes[1])


def test_an_add_row_answered_twice_is_that_rows_error(hostile):
    def repeat(requests):
        answers = add_answers(requests)
        return answers + [pb.AddResponse(tag="1", error=pb.Error(code=6, message="taken"))]

    outcomes = hostile(Script(add=repeat))("add", [IMAGE] * 3, ids=["a", "b", "c"])
    assert [o.id for o in outcomes[::2]] == ["a", "c"]
    assert isinstance(outcomes[1], BadAnswer) and "answered image 1 twice" in str(outcomes[1])


@pytest.mark.parametrize(("answer", "words"), [
    (pb.AddResponse(tag="0", cluster=2), "neither an id nor an error"),
    (field(1, 2, b"0") + field(2, 0, b"\x05"), "fields of the wrong type: id"),
], ids=["no-id-no-error", "id-as-a-number"])
def test_an_add_answer_missing_its_fields_is_that_rows_error(hostile, answer, words):
    def broken(requests):
        return [answer, *add_answers(requests)[1:]]

    outcomes = hostile(Script(add=broken))("add", [IMAGE] * 2)
    assert isinstance(outcomes[0], BadAnswer) and words in str(outcomes[0])
    assert outcomes[1].id == "auto-1"


# search_many: a tag that names no row in flight ends the call; a row's bad answer is its own.
@pytest.mark.parametrize("tag", ["", "x", "99", " 0", "00", "+0"])
def test_search_many_answers_under_a_tag_that_names_no_row_raise_bad_answer(hostile, tag):
    def mislabel(requests):
        answers = stream_answers(requests)
        answers[0].tag = tag
        return answers

    with pytest.raises(BadAnswer, match="which is not in flight"):
        hostile(Script(search_stream=mislabel)).search_many([IMAGE] * 4, k=3)


def test_search_many_rows_answered_twice_raise_bad_answer(hostile):
    def repeat(requests):
        return stream_answers(requests) * 2

    with pytest.raises(BadAnswer, match="answered row tag '0', which is not in flight"):
        hostile(Script(search_stream=repeat)).search_many([IMAGE] * 3, k=3)


@pytest.mark.parametrize(("answer", "words"), [
    (pb.SearchStreamResponse(tag="1"), "holds neither a result nor an error"),
    (field(1, 2, b"1") + field(2, 2, NEIGHBORS_AS_A_NUMBER), "of the wrong type: neighbors"),
    (field(1, 2, b"1") + field(2, 2, DISTANCE_AS_TEXT), "of the wrong type: distance"),
], ids=["empty", "neighbors-as-a-number", "distance-as-text"])
def test_a_search_many_answer_missing_its_fields_is_that_rows_error_in_input_order(
        hostile, answer, words):
    def reorder_and_break(requests):  # answers in reverse order: allowed, each by its tag
        answers = stream_answers(requests)
        answers[1] = answer
        return answers[::-1]

    outcomes = hostile(Script(search_stream=reorder_and_break)).search_many(
        [IMAGE] * 4, k=3)
    assert [type(o) for o in outcomes] == [SearchResult, BadAnswer, SearchResult, SearchResult]
    assert [o.cluster for o in outcomes[::2]] == [0, 2] and outcomes[3].cluster == 3
    assert words in str(outcomes[1])


# Unary calls: an answer the contract does not allow raises BadAnswer.
@pytest.mark.parametrize(("answer", "words"), [
    (NEIGHBORS_AS_A_NUMBER, "fields of the wrong type: neighbors"),
    (DISTANCE_AS_TEXT, "fields of the wrong type: distance"),
    (field(2, 2, field(1, 2, b"\xff")), "is not a lookalike.v1 message"),  # not UTF-8
    (field(2, 2, b"\x0a\x09a"), "is not a lookalike.v1 message"),  # cut short
], ids=["neighbors-as-a-number", "distance-as-text", "id-not-utf8", "truncated"])
def test_a_search_answer_of_the_wrong_shape_raises_bad_answer(hostile, answer, words):
    client = hostile(Script(search=lambda request: answer))
    with pytest.raises(BadAnswer) as info:
        client("search", id="3", k=3)
    assert words in str(info.value)


@pytest.mark.parametrize(("script", "call", "words"), [
    (Script(health=lambda r: field(1, 0, b"\x63")), "health",  # status 99
     "health status 99 is not one the health protocol defines"),
    (Script(info=lambda r: field(5, 2, b"many")), "info", "of the wrong type: count"),
    (Script(delete=lambda r: field(1, 2, b"two")), "delete", "of the wrong type: deleted"),
    (Script(info=lambda r: pb.InfoResponse(input_size=-64)), "search",
     "input size of -64 pixels"),
], ids=["health-unknown-status", "info-count-as-text", "delete-count-as-text",
        "info-negative-input-size"])
def test_unary_answers_that_break_the_contract_raise_bad_answer(hostile, script, call, words):
    client = hostile(script)
    args = {"health": ((), {}), "info": ((), {}), "delete": ((["a", "b"],), {}),
            "search": ((IMAGE,), {})}[call]
    with pytest.raises(BadAnswer) as info:
        client(call, *args[0], **args[1])
    assert words in str(info.value) and isinstance(info.value, LookalikeError)


def test_a_well_behaved_script_is_answered_normally(hostile):
    """The hostile server's defaults are a good server: the cases above change one thing."""
    client = hostile(Script())
    result = client("search", id="3", k=3)
    assert result.cluster == 1 and [n.id for n in result.neighbors] == ["n0", "n1", "n2"]
    assert [o.id for o in client("add", [IMAGE] * 2, ids=["a", "b"])] == ["a", "b"]
    assert [o.cluster for o in client.search_many([IMAGE] * 3, k=3)] == [0, 1, 2]
    assert client("health") == "SERVING" and client("delete", ["a"]) == (1, [])


UNPARSABLE = field(1, 2, b"abcde")[:-3]  # a field cut short: no message at all


def test_an_unparsable_stream_answer_raises_bad_answer(hostile):
    """Which row it meant cannot be known: the call ends, in both clients alike (grpc
    raises INTERNAL, grpc.aio hands over None)."""
    client = hostile(Script(add=lambda requests: [UNPARSABLE],
                            search_stream=lambda requests: [UNPARSABLE]))
    with pytest.raises(BadAnswer, match="is not a lookalike.v1 message"):
        client("add", [IMAGE] * 2)
    with pytest.raises(BadAnswer, match="is not a lookalike.v1 message"):
        client.search_many([IMAGE] * 2, k=3)
