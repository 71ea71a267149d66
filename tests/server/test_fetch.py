"""Server-side URL fetching: allow-listed hosts, vetted addresses, redirects, caps.

Every HTTP server here is a real http.server on loopback; refused addresses are refused
before any connection is made, so nothing leaves the machine.
"""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lookalike.common.errors import DeadlineExceeded, InvalidArgument, NotFound, ResourceExhausted
from lookalike.common.fetch import FetchLimits, fetch_url, host_allowed

BODY = b"\x89PNG fake image body" * 10
LOOPBACK_OK = FetchLimits(timeout_s=5, allowed_hosts=("127.0.0.1",),
                          allowed_networks=("127.0.0.1/32",), vet_addresses=True)


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        if parts.path == "/img":
            self._send(200, BODY)
        elif parts.path in ("/caf%C3%A9.png", "/a%20b.png"):  # what a browser sends
            self._send(200, BODY + unquote(parts.query).encode())
        elif parts.path == "/to":
            self.send_response(302)
            self.send_header("Location", query["url"][0])
            self.end_headers()
        elif parts.path.startswith("/hops/"):
            left = int(parts.path.rsplit("/", 1)[1])
            self.send_response(302)
            self.send_header("Location", f"/hops/{left - 1}" if left > 1 else "/img")
            self.end_headers()
        elif parts.path == "/big":
            self._send(200, b"x" * 5000)
        elif parts.path == "/big-unsized":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"x" * 5000)
            self.close_connection = True
        elif parts.path == "/slow":
            time.sleep(3)
            self._send(200, BODY)
        elif parts.path == "/drip":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            for _ in range(60):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.05)
        else:
            self._send(404, b"no")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def origin() -> Iterator[str]:
    """A loopback HTTP server; yields its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_allowed_host_on_an_allowed_network_is_fetched(origin):
    assert fetch_url(f"{origin}/img", LOOPBACK_OK) == BODY


def test_the_sdk_default_still_fetches_anything(origin):
    assert fetch_url(f"{origin}/img") == BODY


def test_a_host_off_the_allow_list_is_refused(origin):
    limits = FetchLimits(allowed_hosts=("images.example.com",), vet_addresses=True)
    with pytest.raises(InvalidArgument, match="'127.0.0.1' is not on this server's fetch allow"):
        fetch_url(f"{origin}/img", limits)


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("localhost", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("[::1]", "loopback"),
        ("[::ffff:127.0.0.1]", "loopback"),
        ("2130706433", "loopback"),
        ("0177.0.0.1", "loopback"),
        ("0x7f.1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.1", "private"),
        ("169.254.169.254", "link-local"),
        ("[fe80::1]", "link-local"),
        ("[fd00::1]", "private"),
    ],
)
def test_non_public_addresses_are_refused_after_resolving_however_spelled(host, kind):
    limits = FetchLimits(timeout_s=2, allowed_hosts=("*",), vet_addresses=True)
    with pytest.raises(InvalidArgument, match=f"resolves to {kind} address"):
        fetch_url(f"http://{host}:9/x.png", limits)


def test_an_explicitly_allowed_network_is_fetched_from(origin):
    limits = FetchLimits(allowed_hosts=("*",), allowed_networks=("127.0.0.0/8",),
                         vet_addresses=True)
    assert fetch_url(f"{origin}/img", limits) == BODY


def test_a_redirect_to_a_refused_address_is_refused(origin):
    limits = FetchLimits(allowed_hosts=("*",), allowed_networks=("127.0.0.1/32",),
                         vet_addresses=True)
    port = urlsplit(origin).port
    for target in (f"http://[::1]:{port}/img", f"http://2130706433:{port}/img".replace(
            "2130706433", "0177.0.0.2")):
        with pytest.raises(InvalidArgument, match="resolves to loopback address"):
            fetch_url(f"{origin}/to?url={target}", limits)


def test_a_redirect_to_a_host_off_the_allow_list_is_refused(origin):
    port = urlsplit(origin).port
    with pytest.raises(InvalidArgument, match="'localhost' is not on this server's fetch"):
        fetch_url(f"{origin}/to?url=http://localhost:{port}/img", LOOPBACK_OK)


def test_two_redirects_are_followed_and_a_third_is_refused(origin):
    assert fetch_url(f"{origin}/hops/2", LOOPBACK_OK) == BODY
    with pytest.raises(InvalidArgument, match="more than 2 redirects"):
        fetch_url(f"{origin}/hops/3", LOOPBACK_OK)


@pytest.mark.parametrize("path", ["/big", "/big-unsized"])
def test_a_body_over_the_byte_cap_is_refused(origin, path):
    limits = FetchLimits(max_bytes=1000, allowed_hosts=("127.0.0.1",),
                         allowed_networks=("127.0.0.1/32",), vet_addresses=True)
    with pytest.raises(ResourceExhausted, match="1,000"):
        fetch_url(f"{origin}{path}", limits)


@pytest.mark.parametrize("path", ["/slow", "/drip"])
def test_the_time_cap_holds_for_slow_answers_and_slow_bodies(origin, path):
    limits = FetchLimits(timeout_s=0.5, allowed_hosts=("127.0.0.1",),
                         allowed_networks=("127.0.0.1/32",), vet_addresses=True)
    start = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="0.5s|ran out of time"):
        fetch_url(f"{origin}{path}", limits)
    assert time.monotonic() - start < 2.5  # the drip alone would take 3 s


def test_an_error_status_is_not_found(origin):
    with pytest.raises(NotFound, match="HTTP 404"):
        fetch_url(f"{origin}/missing", LOOPBACK_OK)


@pytest.mark.parametrize("path", ["/café.png", "/a b.png", "/caf%C3%A9.png",
                                  "/café.png?q=ü", "/to?url=/café.png"])
def test_urls_with_non_ascii_or_spaces_are_fetched_percent_encoded(origin, path):
    # Encoded as UTF-8 as a browser would; an existing escape is not encoded twice.
    query = "q=ü".encode() if path.endswith("ü") else b""  # the server echoes it decoded
    assert fetch_url(origin + path, LOOPBACK_OK) == BODY + query


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tail=st.text(max_size=30))
def test_any_text_after_a_url_is_fetched_or_refused_with_a_domain_error(origin, tail):
    # Whatever a user types after the host (unicode, spaces, control characters, "%", "#",
    # "?"), the answer is a body or one of the errors the server maps to a status.
    try:
        fetch_url(f"{origin}/{tail}", LOOPBACK_OK)
    except (NotFound, InvalidArgument):
        pass


def test_control_characters_in_a_url_cannot_add_request_headers(origin):
    with pytest.raises(NotFound, match="HTTP 404"):  # one odd path, not a second header
        fetch_url(origin + "/img\r\nX-Injected: 1", LOOPBACK_OK)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://x/",
                                 "http:///nohost", "not a url"])
def test_only_http_urls_are_fetched(url):
    with pytest.raises(InvalidArgument, match="not an http"):
        fetch_url(url, FetchLimits(allowed_hosts=("*",), vet_addresses=True))


def test_the_vetted_address_is_the_one_connected_to(origin, monkeypatch):
    """DNS rebinding: a second lookup would answer a private address; none is made."""
    port = urlsplit(origin).port
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1", "10.255.255.1", "10.255.255.1"])
    lookups = []

    def rebinding(host, *args, **kwargs):
        if host != "images.test":  # numeric addresses resolve as usual
            return real(host, *args, **kwargs)
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    limits = FetchLimits(timeout_s=3, allowed_hosts=("images.test",),
                         allowed_networks=("127.0.0.1/32",), vet_addresses=True)
    assert fetch_url(f"http://images.test:{port}/img", limits) == BODY
    assert lookups == ["images.test"]
    monkeypatch.setattr(socket, "getaddrinfo", real)


@pytest.mark.parametrize(
    ("host", "allowed", "expected"),
    [
        ("a.example.com", ("*.example.com",), True),
        ("example.com", ("*.example.com",), False),
        ("example.com.evil.net", ("*.example.com",), False),
        ("EXAMPLE.com.", ("example.com",), True),
        ("anything", ("*",), True),
        ("::1", ("[::1]",), True),
    ],
)
def test_host_allow_list_matching(host, allowed, expected):
    assert host_allowed(host, allowed) is expected


def test_a_bad_allowed_network_is_reported():
    with pytest.raises(InvalidArgument, match="bad allowed network"):
        fetch_url("http://127.0.0.1:9/", FetchLimits(allowed_networks=("not-a-cidr",)))
