"""A full disk over gRPC: RESOURCE_EXHAUSTED saying the disk is full, StorageFull in the SDK,
and an error in the log that is not called a bug."""

from __future__ import annotations

import logging
import shutil

import grpc
import pytest

from lookalike.clients.client import Client
from lookalike.common.errors import StorageFull
from lookalike.proto.v1 import lookalike_pb2 as pb
from lookalike.proto.v1 import lookalike_pb2_grpc as pb_grpc
from lookalike.server.config import ServerConfig
from lookalike.server.grpc_server import create_server
from tests.tmpfs import fill_disk, small_tmpfs

from .conftest import encode, photo


def add_until_full(client: Client, prefix: str, most: int = 60) -> tuple[int, StorageFull]:
    """Adds one image at a time until one is refused; returns (how many were added, error)."""
    for n in range(most):
        answer = client.add([encode(photo(seed=n), "PNG")], ids=[f"{prefix}{n}"])[0]
        if isinstance(answer, StorageFull):
            return n, answer
        assert not isinstance(answer, Exception), answer
    pytest.fail(f"{most} adds to a full database all succeeded")


def assert_logged_as_full_not_as_bug(caplog: pytest.LogCaptureFixture) -> None:
    text = caplog.text
    assert "bug while serving" not in text and "disk is full" in text


def test_adds_to_a_full_database_are_resource_exhausted(served, stub_for, caplog):
    """Issue 13, defect 5: they answered INTERNAL and the log said "bug while serving"."""
    running, target = served
    db = running.wait_ready().collection.store._db
    db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")
    caplog.set_level(logging.INFO)
    with Client(target) as client:
        _, refused = add_until_full(client, "cap")
        assert "the disk is full" in str(refused) and "nothing was stored" in str(refused)
        answer = next(iter(stub_for(target).Add(iter([pb.AddRequest(
            tag="t", image=encode(photo(seed=99), "PNG"), path="/p", id="one-more")]),
            timeout=60)))
        assert answer.error.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
        assert answer.error.kind == "StorageFull"
        with pytest.raises(Exception, match="no image with id 'one-more'"):
            client.search(id="one-more", k=1)
    assert_logged_as_full_not_as_bug(caplog)


def test_a_real_full_disk_refuses_deletes_and_adds_then_recovers(built_collection, caplog):
    caplog.set_level(logging.INFO)
    with small_tmpfs(12 << 20) as disk:
        shutil.copytree(built_collection, disk / "c")
        running = create_server(disk / "c", ServerConfig(port=0))
        try:
            target = f"127.0.0.1:{running.port}"
            with Client(target) as client:
                filler = fill_disk(disk)
                with pytest.raises(StorageFull, match="the disk is full"):
                    client.delete(["1"])
                with grpc.insecure_channel(target) as channel:
                    with pytest.raises(grpc.RpcError) as info:
                        pb_grpc.LookalikeStub(channel).Delete(pb.DeleteRequest(ids=["1"]),
                                                              timeout=20)
                    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                    assert "the disk is full" in info.value.details()
                added, _ = add_until_full(client, "tmpfs")
                filler.unlink()
                assert client.delete(["1"]) == (1, [])
                assert client.info().count == 48 - 1 + added
        finally:
            running.stop(grace_s=1)
    assert_logged_as_full_not_as_bug(caplog)
