"""Prometheus metrics on their own port, and one structured log line per call."""

from __future__ import annotations

import logging
import re
import urllib.request

import grpc
import pytest

from lookalike.proto.v1 import lookalike_pb2 as pb

from .conftest import encode, photo, running_server

SEARCH = "/lookalike.v1.Lookalike/Search"


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return response.read().decode()


def sample(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = re.escape(name + ("{" + want + "}" if want else "")) + r" ([0-9.e+-]+)"
    match = re.search(pattern, text)
    assert match, f"{name} {labels} missing from the metrics"
    return float(match.group(1))


@pytest.fixture(scope="module")
def metered(built_collection):
    with running_server(built_collection, metrics_port=0) as (running, target):
        yield running, target


def test_metrics_count_calls_stages_batches_and_images(metered, stub_for):
    running, target = metered
    stub = stub_for(target)
    for seed in range(3):
        stub.Search(pb.SearchRequest(image=encode(photo(seed=seed), "JPEG"), k=2), timeout=20)
    with pytest.raises(grpc.RpcError):
        stub.Search(pb.SearchRequest(id="missing", k=2), timeout=20)
    text = scrape(running.metrics_port)
    assert sample(text, "lookalike_calls_total", method=SEARCH, code="OK") >= 3
    assert sample(text, "lookalike_calls_total", method=SEARCH, code="NOT_FOUND") == 1
    for stage in ("decode", "encode", "search"):
        assert sample(text, "lookalike_stage_seconds_count", stage=stage) >= 3
    assert sample(text, "lookalike_batch_size_count") >= 3
    assert sample(text, "lookalike_batch_size_sum") >= 3
    assert sample(text, "lookalike_collection_images") == 48
    assert sample(text, "lookalike_call_seconds_count", method=SEARCH) >= 4


def test_one_log_line_per_call_with_method_code_duration_and_peer(metered, stub_for, caplog):
    _, target = metered
    stub = stub_for(target)
    marker = b"PRIVATE-IMAGE-BYTES-MARKER"
    image = encode(photo(seed=7), "JPEG") + marker  # bytes after the JPEG end are ignored
    with caplog.at_level(logging.INFO, logger="lookalike.server.observe"):
        stub.Search(pb.SearchRequest(image=image, k=2), timeout=20)
        with pytest.raises(grpc.RpcError):
            stub.Search(pb.SearchRequest(image=b"junk" + marker, k=2), timeout=20)
    lines = [r for r in caplog.records if r.name == "lookalike.server.observe"]
    assert len(lines) == 2
    ok, bad = lines
    assert re.fullmatch(r"call method=\S+Search code=OK ms=[0-9.]+ peer=ipv[46]:\S+",
                        ok.getMessage())
    assert "code=INVALID_ARGUMENT" in bad.getMessage()
    assert (bad.rpc_method, bad.rpc_code) == (SEARCH, "INVALID_ARGUMENT")
    assert bad.duration_ms > 0 and bad.peer
    assert "MARKER" not in caplog.text
