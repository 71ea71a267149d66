"""Add and Delete over gRPC, wired to the collection, durable once acknowledged."""

from __future__ import annotations

import grpc
import pytest

from lookalike.indexer.local.collection import Collection
from lookalike.proto.v1 import lookalike_pb2 as pb

from .conftest import encode, photo


def test_added_images_are_searchable_durable_and_deletable(served, stub_for, collection_copy):
    running, target = served
    stub = stub_for(target)
    new = encode(photo(seed=42), "PNG")
    answers = list(stub.Add(iter([
        pb.AddRequest(tag="a", image=new, path="/new/42.png", id="new-42"),
        pb.AddRequest(tag="b", image=b"not an image", path="/bad"),
        pb.AddRequest(tag="c", image=encode(photo(seed=43), "JPEG"), path="/new/43.jpg"),
    ]), timeout=60))
    assert [a.tag for a in answers] == ["a", "b", "c"]
    assert answers[0].id == "new-42" and not answers[0].HasField("error")
    assert answers[1].error.kind == "InvalidImage" and "not an image" in answers[1].error.message
    assert answers[2].id and not answers[2].HasField("error")
    found = stub.Search(pb.SearchRequest(image=new, k=1), timeout=20).neighbors[0]
    assert (found.id, found.path) == ("new-42", "/new/42.png")
    assert stub.Info(pb.InfoRequest(), timeout=20).count == 50

    # A read-only Collection on the same folder reads what the server acknowledged.
    other = Collection.open(collection_copy, read_only=True)
    try:
        assert other.lookup("new-42")[0].path == "/new/42.png"
    finally:
        other.close()

    response = stub.Delete(pb.DeleteRequest(ids=["new-42", "never-there"]), timeout=20)
    assert response.deleted == 1 and list(response.missing) == ["never-there"]
    after = stub.Search(pb.SearchRequest(image=new, k=3), timeout=20)
    assert "new-42" not in {n.id for n in after.neighbors}
    with pytest.raises(grpc.RpcError) as info:
        stub.Search(pb.SearchRequest(id="new-42", k=1), timeout=20)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_adding_an_id_that_exists_is_answered_in_its_row(served, stub_for):
    _, target = served
    stub = stub_for(target)
    answers = list(stub.Add(iter([pb.AddRequest(tag="dup", image=encode(photo(), "PNG"),
                                                path="/x", id="1")]), timeout=60))
    assert answers[0].error.code == grpc.StatusCode.ALREADY_EXISTS.value[0]
    assert "1" in answers[0].error.message


def test_delete_without_ids_is_invalid_argument(served, stub_for):
    _, target = served
    with pytest.raises(grpc.RpcError) as info:
        stub_for(target).Delete(pb.DeleteRequest(ids=[]), timeout=20)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "no ids given to delete" in info.value.details()
