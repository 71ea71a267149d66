"""One deadline over the whole fetch, connect to last byte, across every redirect (issue 24,
case 2): a peer that drips any part of its answer is cut off at the deadline."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lookalike.common.errors import DeadlineExceeded
from lookalike.common.fetch import FetchLimits, fetch_url
from tests.server.test_security import self_signed  # noqa: F401 - a fixture used here
from tests.slow_peer import PHASES, SlowPeer, body

DEADLINE = 0.5
SLACK = 1.0  # scheduling on two busy cores; a drip that beat the deadline would take 3 s
FOREVER = "count=10000&every=0.05"  # ten minutes of drip; the peer gives up after 3 s


@pytest.fixture(scope="module")
def peer() -> Iterator[SlowPeer]:
    with SlowPeer() as server:
        yield server


def timed_fetch(url: str, deadline: float = DEADLINE, redirects: int = 2) -> float:
    """Seconds until fetch_url(url) raised DeadlineExceeded (anything else fails the test)."""
    start = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        fetch_url(url, FetchLimits(timeout_s=deadline, max_redirects=redirects))
    return time.monotonic() - start


def test_a_status_line_dripped_a_byte_at_a_time_ends_at_the_deadline(peer):
    assert timed_fetch(f"{peer.url}/drip/status?{FOREVER}") < DEADLINE + SLACK


def test_headers_dripped_a_byte_at_a_time_end_at_the_deadline(peer):
    assert timed_fetch(f"{peer.url}/drip/headers?{FOREVER}") < DEADLINE + SLACK


def test_a_chunked_body_whose_size_line_drips_ends_at_the_deadline(peer):
    assert timed_fetch(f"{peer.url}/drip/chunked?{FOREVER}") < DEADLINE + SLACK


def test_a_redirect_chain_slow_at_every_hop_ends_at_one_deadline(peer):
    # Each hop takes 0.8 s, under the deadline of 1 s on its own; two hops are over it.
    before = peer.requests.copy()
    took = timed_fetch(f"{peer.url}/hop/5?count=16&every=0.05", deadline=1.0, redirects=5)
    assert took < 1.0 + 0.4
    assert peer.requests["/hop/4"] - before["/hop/4"] == 1  # the chain was followed


def test_over_tls_a_dripped_status_line_ends_at_the_deadline(self_signed,  # noqa: F811
                                                               monkeypatch):
    cert, key = self_signed
    served = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    served.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))
    monkeypatch.setattr("lookalike.common.fetch.ssl.create_default_context", lambda: trusting)
    with SlowPeer(tls=served) as peer:
        assert fetch_url(f"{peer.url}/drip/body?count=3", FetchLimits(timeout_s=5)) == body(3)
        assert timed_fetch(f"{peer.url}/drip/status?{FOREVER}") < DEADLINE + SLACK


def test_answers_that_finish_in_time_still_arrive(peer):
    limits = FetchLimits(timeout_s=5.0, max_redirects=3)
    for phase in PHASES:
        assert fetch_url(f"{peer.url}/drip/{phase}?count=5&every=0.01", limits) == body(5)
    assert fetch_url(f"{peer.url}/hop/3?count=3&every=0.01", limits) == body(3)


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(phase=st.sampled_from([*PHASES, "hop"]), count=st.integers(0, 40),
       every=st.sampled_from([0.005, 0.02, 0.05, 0.1]))
def test_any_drip_ends_within_the_deadline_with_the_body_or_deadline_exceeded(
        peer, phase, count, every):
    deadline = 0.3
    url = (f"{peer.url}/hop/3?count={count}&every={every}" if phase == "hop" else
           f"{peer.url}/drip/{phase}?count={count}&every={every}")
    start = time.monotonic()
    try:
        data = fetch_url(url, FetchLimits(timeout_s=deadline, max_redirects=3))
    except DeadlineExceeded:
        pass
    else:
        assert data == body(count)
    assert time.monotonic() - start < deadline + SLACK
