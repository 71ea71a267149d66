"""Slow peers: image URLs whose server drips or holds its answer, met by every path that
fetches (the SDK's search, the server's --fetch-hosts, bulk URL rows).

A drip never holds a caller past the fetch deadline (tests/common/test_fetch_deadline.py
has each phase, a tighter bound on redirect chains and a property over drip schedules),
and a bulk row that waits does not hold back the rows after it (issue 24, case 2). The
status-line, header and chunk-size drips and the bulk row failed before that fix; a
dripped Content-Length body and the short chain stay here as guards of the same class.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from lookalike.clients import Client
from lookalike.clients.bulk import BulkConfig, run_bulk
from lookalike.clients.bulk_output import read_rows
from lookalike.common.errors import DeadlineExceeded
from lookalike.common.fetch import FetchLimits
from lookalike.proto.v1 import lookalike_pb2 as pb
from lookalike.proto.v1 import lookalike_pb2_grpc as pb_grpc
from tests.server.conftest import running_server
from tests.slow_peer import PHASES, SlowPeer

DEADLINE = 0.5
SLACK = 1.5  # a drip that beat the deadline would run for the peer's 3 s
FOREVER = "count=10000&every=0.05"


@pytest.fixture(scope="module")
def peer(image_folder: Path) -> Iterator[SlowPeer]:
    files = {p.name: p.read_bytes() for p in sorted(image_folder.iterdir())[:6]}
    with SlowPeer(files=files, limit_s=6.0) as server:
        yield server


@pytest.fixture(scope="module")
def fetching_target(built_collection: Path) -> Iterator[str]:
    """A server that fetches URLs from loopback, with a short fetch deadline."""
    with running_server(built_collection, fetch_hosts=("127.0.0.1",),
                        fetch_networks=("127.0.0.1/32",), fetch_timeout_s=DEADLINE) as pair:
        yield pair[1]


@pytest.mark.parametrize("path", [f"/drip/{phase}?{FOREVER}" for phase in PHASES]
                         + ["/hop/2?count=14&every=0.05"])
def test_the_sdk_search_of_a_dripping_url_ends_at_its_fetch_deadline(fetching_target, peer,
                                                                    path):
    with Client(fetching_target, fetch=FetchLimits(timeout_s=DEADLINE)) as client:
        start = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            client.search(f"{peer.url}{path}", k=2)
    assert time.monotonic() - start < DEADLINE + SLACK


@pytest.mark.parametrize("path", [f"/drip/{phase}?{FOREVER}" for phase in PHASES]
                         + ["/hop/2?count=14&every=0.05"])
def test_the_servers_fetch_of_a_dripping_url_ends_at_its_deadline(fetching_target, peer, path):
    with grpc.insecure_channel(fetching_target) as channel:
        start = time.monotonic()
        with pytest.raises(grpc.RpcError) as caught:
            pb_grpc.LookalikeStub(channel).Search(
                pb.SearchRequest(url=f"{peer.url}{path}", k=2), timeout=30)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - start < DEADLINE + SLACK


def test_a_bulk_row_that_hangs_does_not_hold_back_the_rows_after_it(
        fetching_target, peer, image_folder, tmp_path, monkeypatch):
    """Row 1 hangs until released; every other row (URLs and files) must be fetched,
    searched and answered while it does, and the output still comes in manifest order."""
    names = sorted(p.name for p in image_folder.iterdir())[:6]
    rows = [f"{peer.url}/file/{names[0]}", f"{peer.url}/hold/row1",
            *(f"{peer.url}/file/{n}" for n in names[1:]), str(image_folder / names[0])]
    manifest = tmp_path / "m.txt"
    manifest.write_text("\n".join(rows) + "\n")
    answered: list[object] = []
    search_many = Client.search_many

    def counted(self: Client, *args: object, **kwargs: object) -> Iterator[object]:
        for outcome in search_many(self, *args, **kwargs):
            with peer.changed:
                answered.append(outcome)
                peer.changed.notify_all()
            yield outcome

    monkeypatch.setattr(Client, "search_many", counted)
    out, failed = tmp_path / "out.jsonl", []

    def run() -> None:
        try:
            with Client(fetching_target) as client:
                run_bulk(manifest, client, out, BulkConfig(k=2, concurrency=1, workers=2,
                                                           progress=False))
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            failed.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    try:
        others_done = peer.wait_for(
            lambda: peer.held == 1 and len(answered) == len(rows) - 1, timeout=4.0)
        meanwhile = len(answered)
    finally:
        peer.release()
        worker.join(timeout=30)
    assert not worker.is_alive() and not failed
    assert others_done, f"{meanwhile} of {len(rows) - 1} other rows answered meanwhile"
    written = read_rows(out)
    assert [r["query"] for r in written] == rows
    assert [r["error"] is None for r in written] == [True, False, *[True] * (len(rows) - 2)]
    assert written[1]["error"].startswith("NotFound: ")
