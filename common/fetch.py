"""Fetching an image URL with time, byte and redirect caps, and optional SSRF vetting.

Every hop resolves the host once, vets the resolved addresses (when asked to) and then
connects to that very address, so a second DNS answer cannot slip a private address in.
One deadline covers the whole fetch: every connect, send and receive of every hop is
given only the time left, so a peer that drips its answer a byte at a time cannot hold
a caller (or a server thread) past it.
"""

from __future__ import annotations

import http.client
import io
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from lookalike.common.errors import (
    DeadlineExceeded,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
)

REDIRECTS = frozenset({301, 302, 303, 307, 308})
# What stays as it is in a request target; the rest (non-ASCII, spaces, control characters)
# is percent-encoded as UTF-8, as a browser does. "%" is kept: an escape stays one escape.
TARGET_SAFE = "!#$%&'()*+,/:;=?@[]~"
CHUNK = 64 * 1024
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class FetchLimits:
    """Caps on one fetch, and who may be fetched.

    Attributes:
        timeout_s: the whole fetch, redirects and body included.
        max_bytes: the largest body accepted.
        max_redirects: redirects followed before giving up.
        allowed_hosts: host names that may be fetched ("*" any, "*.example.com" a domain);
            None allows every host.
        allowed_networks: CIDR ranges allowed although loopback, private or link-local.
        vet_addresses: refuse hosts that resolve to non-public addresses (servers set it;
            the SDK, fetching for its own user, does not).
    """

    timeout_s: float = 10.0
    max_bytes: int = 32 * 1024 * 1024
    max_redirects: int = 2
    allowed_hosts: tuple[str, ...] | None = None
    allowed_networks: tuple[str, ...] = ()
    vet_addresses: bool = False


def fetch_url(url: str, limits: FetchLimits = FetchLimits()) -> bytes:
    """Downloads url and returns its bytes, following at most limits.max_redirects redirects.

    Raises:
        InvalidArgument: not an http(s) URL, a host that is not allowed, an address that
            is not public, or too many redirects.
        NotFound: the server answered with an error status or could not be reached.
        ResourceExhausted: the body is over limits.max_bytes.
        DeadlineExceeded: the fetch took longer than limits.timeout_s.
    """
    deadline = time.monotonic() + limits.timeout_s
    networks = _parse_networks(limits.allowed_networks)
    current = url
    for _ in range(limits.max_redirects + 1):
        status, location, body = _fetch_once(current, limits, networks, deadline)
        if status not in REDIRECTS:
            if status >= 400:
                raise NotFound(f"{current}: HTTP {status}")
            return body
        if not location:
            raise NotFound(f"{current}: HTTP {status} redirect without a Location")
        try:
            current = urljoin(current, location)
        except ValueError as exc:
            raise NotFound(f"{current}: HTTP {status} redirect to a bad URL ({exc})") from None
    raise InvalidArgument(f"{url}: more than {limits.max_redirects} redirects")


def _parse_networks(cidrs: tuple[str, ...]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    try:
        return [ipaddress.ip_network(c, strict=False) for c in cidrs]
    except ValueError as exc:
        raise InvalidArgument(f"bad allowed network: {exc}") from None


def _fetch_once(
    url: str, limits: FetchLimits, networks: list, deadline: float
) -> tuple[int, str | None, bytes]:
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an unclosed "[" of an IPv6 host
        raise InvalidArgument(f"{url}: not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidArgument(f"not an http(s) URL: {url!r}")
    host = parts.hostname
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InvalidArgument(f"{url}: bad port") from None
    if limits.allowed_hosts is not None and not host_allowed(host, limits.allowed_hosts):
        raise InvalidArgument(f"{url}: host {host!r} is not on this server's fetch allow-list")
    address = _resolve(url, host, port, limits.vet_addresses, networks, deadline)
    conn = _connection(parts.scheme, host, port, address, deadline)
    response = None
    try:
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        target = quote(target, safe=TARGET_SAFE)
        conn.request("GET", target, headers={"User-Agent": "lookalike", "Accept": "image/*"})
        response = conn.getresponse()
        if response.status in REDIRECTS or response.status >= 400:
            return response.status, response.getheader("Location"), b""
        return response.status, None, _read_body(url, response, limits)
    except TimeoutError:
        raise DeadlineExceeded(f"{url}: the fetch took longer than {limits.timeout_s:g}s"
                               ) from None
    except (OSError, http.client.HTTPException) as exc:
        raise NotFound(f"{url}: could not fetch ({exc})") from None
    finally:
        if response is not None:  # after a closing answer, conn no longer holds it
            response.close()
        conn.close()


def host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    """Whether host matches an entry: exact, "*", or "*.domain" for the domain's subdomains."""
    host = host.lower().strip("[]").rstrip(".")
    for entry in allowed:
        entry = entry.lower().strip("[]").rstrip(".")
        if entry == "*" or entry == host:
            return True
        if entry.startswith("*.") and host.endswith(entry[1:]):
            return True
    return False


def _resolve(
    url: str, host: str, port: int, vet: bool, networks: list, deadline: float
) -> str:
    _remaining(url, deadline)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise NotFound(f"{url}: cannot resolve {host!r} ({exc})") from None
    addresses = [str(info[4][0]) for info in infos]
    if vet:
        # Every answer must pass: a name resolving to public and private alike is a trap.
        for text in addresses:
            reason = refused_address(ipaddress.ip_address(text.split("%")[0]), networks)
            if reason:
                raise InvalidArgument(
                    f"{url}: {host!r} resolves to {reason} address {text}, which this server "
                    "does not fetch from"
                )
    return addresses[0]


def refused_address(ip: IPAddress, networks: list) -> str | None:
    """Why ip may not be fetched from (e.g. "loopback"), or None when it may."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if any(ip in net for net in networks if net.version == ip.version):
        return None
    for kind in ("unspecified", "loopback", "link_local", "private", "multicast", "reserved"):
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    return None if ip.is_global else "non-public"


def _remaining(url: str, deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeadlineExceeded(f"{url}: the fetch ran out of time")
    return left


def _connection(
    scheme: str, host: str, port: int, address: str, deadline: float
) -> _PinnedHTTPConnection | _PinnedHTTPSConnection:
    if scheme == "https":
        return _PinnedHTTPSConnection(host, port, address, deadline)
    return _PinnedHTTPConnection(host, port, address, deadline)


def _read_body(url: str, response: http.client.HTTPResponse, limits: FetchLimits) -> bytes:
    length = response.getheader("Content-Length")
    if length and length.isdigit() and int(length) > limits.max_bytes:
        raise ResourceExhausted(f"{url}: {int(length):,} bytes, over the cap of "
                                f"{limits.max_bytes:,}")
    chunks: list[bytes] = []
    size = 0
    while True:
        # Each receive under it is given only the time left (_DeadlineReader).
        chunk = response.read1(min(CHUNK, limits.max_bytes + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limits.max_bytes:
            raise ResourceExhausted(f"{url}: more than {limits.max_bytes:,} bytes")


def _time_left(deadline: float) -> float:
    """Seconds left before deadline; TimeoutError (made DeadlineExceeded) when none are."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the fetch's deadline passed")
    return left


class _DeadlineReader(io.RawIOBase):
    """A socket's receives, each allowed only the time left before the deadline.

    A timeout per receive is no deadline: a peer sending a byte a second never trips it,
    and http.client reads a status line, a header or a chunk-size line in as many
    receives as the peer likes. Raises TimeoutError once the deadline has passed.
    """

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._sock, self._deadline = sock, deadline
        # Through a socket file, as http.client's own reader: it keeps the socket open
        # after the connection lets go of it for a response that ends the connection.
        self._raw = sock.makefile("rb", buffering=0)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        self._sock.settimeout(_time_left(self._deadline))
        return self._raw.readinto(buffer)

    def close(self) -> None:
        self._raw.close()
        super().close()


class _DeadlineSocket:
    """What an HTTPResponse reads its answer through: makefile() is all it asks of it."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock, self._deadline = sock, deadline

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))


class _DeadlineMixin:
    """Connects, sends and reads the answer within one deadline (time.monotonic())."""

    deadline: float

    def _left(self) -> float:
        return _time_left(self.deadline)

    def response_class(self, sock: socket.socket, *args: Any, **kwargs: Any
                       ) -> http.client.HTTPResponse:
        # http.client builds each response through this attribute: the answer is then
        # read through the deadline, however many receives its lines take.
        reads: Any = _DeadlineSocket(sock, self.deadline)
        return http.client.HTTPResponse(reads, *args, **kwargs)


class _PinnedHTTPConnection(_DeadlineMixin, http.client.HTTPConnection):
    """HTTP to a vetted address, with the original host name in the Host header."""

    def __init__(self, host: str, port: int, address: str, deadline: float) -> None:
        super().__init__(host, port)
        self._address, self.deadline = address, deadline

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self._left())
        self.sock.settimeout(self._left())  # sendall's timeout is the whole send's


class _PinnedHTTPSConnection(_DeadlineMixin, http.client.HTTPSConnection):
    """HTTPS to a vetted address; the certificate is still checked against the host name."""

    def __init__(self, host: str, port: int, address: str, deadline: float) -> None:
        super().__init__(host, port, context=ssl.create_default_context())
        self._address, self.deadline = address, deadline

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self._left())
        sock.settimeout(self._left())  # the handshake's timeout is the whole handshake's
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)
        self.sock.settimeout(self._left())
