"""Size, pixel, concurrency and k limits, and abandoning work for callers who left."""

from __future__ import annotations

import logging
import struct
import time
import zlib

import grpc
import pytest
from PIL import Image

from lookalike.common.errors import DeadlineExceeded
from lookalike.proto.v1 import lookalike_pb2 as pb

from .conftest import encode, one_slot_held, photo, running_server

EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
SEARCH = "/lookalike.v1.Lookalike/Search"


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_claiming(width: int, height: int) -> bytes:
    """A valid PNG header for width x height, with only a few bytes of pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
            + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + png_chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def huge_real_png() -> bytes:
    """A real, valid 8000x8000 (64 MP) PNG that compresses to a few kilobytes."""
    return encode(Image.new("1", (8000, 8000)), "PNG", optimize=True)


def test_a_crafted_header_claiming_huge_dimensions_is_refused_before_decoding(stub):
    # Had the server tried to decode, the missing pixel data would be INVALID_ARGUMENT.
    bomb = png_header_claiming(100_000, 100_000)
    assert len(bomb) < 100
    with pytest.raises(grpc.RpcError) as info:
        stub.Search(pb.SearchRequest(image=bomb, k=3), timeout=20)
    assert info.value.code() == EXHAUSTED
    assert "100000x100000" in info.value.details()
    assert "over the cap of 50,000,000" in info.value.details()
    assert dict(info.value.trailing_metadata())["lookalike-error"] == "ImageTooLarge"


def test_a_real_large_dimension_png_of_tiny_size_is_refused(stub, huge_real_png):
    assert len(huge_real_png) < 100_000
    with pytest.raises(grpc.RpcError) as info:
        stub.Search(pb.SearchRequest(image=huge_real_png, k=3), timeout=20)
    assert info.value.code() == EXHAUSTED
    assert "8000x8000 = 64,000,000 pixels" in info.value.details()


def test_limits_are_configurable(built_collection, stub_for):
    small = encode(photo(size=120), "PNG")  # 14,400 pixels
    with running_server(built_collection, max_k=5, max_pixels=10_000,
                        max_message_bytes=256 * 1024) as (_, target):
        stub = stub_for(target)
        assert len(stub.Search(pb.SearchRequest(id="1", k=5), timeout=20).neighbors) == 5
        cases = [
            (pb.SearchRequest(id="1", k=6), grpc.StatusCode.INVALID_ARGUMENT,
             "k must be at most 5, got 6"),
            (pb.SearchRequest(image=small, k=1), EXHAUSTED, "over the cap of 10,000"),
            (pb.SearchRequest(image=b"\xff" * 300_000, k=1), EXHAUSTED, "larger than max"),
        ]
        for request, code, words in cases:
            with pytest.raises(grpc.RpcError) as info:
                stub.Search(request, timeout=20)
            assert info.value.code() == code and words in info.value.details()


def test_a_message_over_the_default_32_mib_limit_is_refused(stub):
    with pytest.raises(grpc.RpcError) as info:
        stub.Search(pb.SearchRequest(image=b"\x00" * (33 * 1024 * 1024), k=1), timeout=30)
    assert info.value.code() == EXHAUSTED
    assert "larger than max" in info.value.details()


def test_calls_over_the_concurrency_limit_are_refused_logged_and_counted(
        built_collection, stub_for, image_folder, caplog):
    data = sorted(image_folder.iterdir())[0].read_bytes()
    with one_slot_held(built_collection, stub_for, data) as (running, target, stub, release):
        with caplog.at_level(logging.INFO, logger="lookalike.server.observe"):
            for _ in range(2):
                with pytest.raises(grpc.RpcError) as info:
                    stub.Search(pb.SearchRequest(id="1", k=1), timeout=20)
                assert info.value.code() == EXHAUSTED
                assert "server is busy: 1 calls are already running" in info.value.details()
                assert dict(info.value.trailing_metadata())["lookalike-error"] == (
                    "ResourceExhausted")
        # grpc core's own limit refused silently; this one reaches the call log and metrics.
        refused = [r for r in caplog.records if getattr(r, "rpc_code", None) == EXHAUSTED.name]
        assert [r.rpc_method for r in refused] == [SEARCH, SEARCH]
        assert running.metrics.value("lookalike_calls_total",
                                     {"method": SEARCH, "code": EXHAUSTED.name}) == 2
        release()
        # The slot frees when the stream's task ends, a moment after its caller saw the end.
        deadline = time.monotonic() + 10
        while running.executor.in_flight:
            assert time.monotonic() < deadline, "the stream's slot was never freed"
            time.sleep(0.01)
        assert stub.Search(pb.SearchRequest(id="1", k=1), timeout=20).neighbors


def test_in_process_work_for_a_caller_who_left_is_dropped(shared_server, image_folder):
    running, _ = shared_server
    engine = running.engine
    encoded_before = engine.metrics.value("lookalike_stage_seconds_count", {"stage": "encode"})
    dropped_before = engine.metrics.value("lookalike_abandoned_total", {"stage": "decode"})
    data = sorted(image_folder.iterdir())[0].read_bytes()
    with pytest.raises(DeadlineExceeded, match="dropped after the decode stage"):
        engine.search(pb.SearchRequest(image=data, k=3), alive=lambda: False)
    assert engine.metrics.value("lookalike_abandoned_total", {"stage": "decode"}) == (
        dropped_before + 1)
    assert engine.metrics.value(
        "lookalike_stage_seconds_count", {"stage": "encode"}) == encoded_before


def test_a_call_whose_deadline_passed_is_abandoned_by_the_server(built_collection, stub_for,
                                                                 image_folder):
    data = sorted(image_folder.iterdir())[0].read_bytes()
    with running_server(built_collection, decode_threads=1) as (running, target):
        engine = running.engine
        stub = stub_for(target)
        encoded = engine.metrics.value("lookalike_stage_seconds_count", {"stage": "encode"})
        with engine.decode_slots:  # every decoder busy: the call waits past its deadline
            with pytest.raises(grpc.RpcError) as info:
                stub.Search(pb.SearchRequest(image=data, k=3), timeout=0.5)
            assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        deadline = time.monotonic() + 10
        while engine.metrics.value("lookalike_abandoned_total", {"stage": "decode"}) < 1:
            assert time.monotonic() < deadline, "the server did not abandon the call"
            time.sleep(0.02)
        assert engine.metrics.value(
            "lookalike_stage_seconds_count", {"stage": "encode"}) == encoded
