"""A loopback HTTP peer that drips its answer: the status line, the headers, a body, a
chunk-size line or every hop of a redirect chain, one byte at a time, or holds it.

The schedule is in the URL, so one server serves every case:
`/drip/PHASE?count=N&every=SECONDS` drips N filler bytes into PHASE (status, headers,
body, chunked) and then completes a valid answer whose body is `body(N)`;
`/hop/H?count=N&every=S` drips N bytes into the headers of a redirect to `/hop/H-1`
(`/hop/0` is an image answered at once); `/hold/NAME` drips until `release()` and counts
as held meanwhile; `/file/NAME` answers files[NAME] at once. Every answer stops by itself:
when its drip ends, when the client goes away, or after `limit_s` at the latest.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections import Counter
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

PHASES = ("status", "headers", "body", "chunked")
Piece = tuple[bytes, float]  # bytes, and the pause before each of them (0: all at once)


def body(count: int) -> bytes:
    return b"x" * count or b"empty"


def answer(data: bytes, status: str = "200 OK") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Length: {len(data)}\r\n"
            "Connection: close\r\n\r\n").encode() + data


def schedule(phase: str, count: int, every: float) -> list[Piece]:
    """The pieces of an answer that drips count bytes into phase, every `every` seconds."""
    data = body(count)
    if phase == "status":  # a reason phrase that takes count pauses to finish
        return [(b"HTTP/1.1 200 ", 0), (b"O" * count, every), (answer(data)[15:], 0)]
    if phase == "headers":
        return [(b"HTTP/1.1 200 OK\r\nX-Slow: ", 0), (b"a" * count, every),
                (b"\r\n" + answer(data)[17:], 0)]
    if phase == "body":
        return [(answer(data)[:-len(data)], 0), (data, every)]
    # chunked: the drip is a chunk extension, so the chunk-size line itself is slow
    return [(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
             + f"{len(data):x};".encode(), 0), (b"e" * count, every),
            (b"\r\n" + data + b"\r\n0\r\n\r\n", 0)]


class SlowPeer:
    """The server; a context manager that stops it and its connections on exit."""

    def __init__(self, files: dict[str, bytes] | None = None, limit_s: float = 3.0,
                 tls: ssl.SSLContext | None = None) -> None:
        self.files = files or {}
        self.tls = tls
        self.limit_s = limit_s
        self.requests: Counter[str] = Counter()  # by path, without the query
        self.held = 0  # /hold answers now dripping
        self.changed = threading.Condition()
        self._release = threading.Event()
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)  # how often the accept loop looks at _stop
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self._listener.getsockname()[1]}"
        self._threads = [threading.Thread(target=self._accept, daemon=True)]

    def __enter__(self) -> SlowPeer:
        self._threads[0].start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self.release()
        for thread in list(self._threads):
            thread.join(timeout=self.limit_s + 1)
        self._listener.close()

    def release(self) -> None:
        """Lets every /hold answer (now and later) complete."""
        self._release.set()

    def wait_for(self, predicate: object, timeout: float = 10.0) -> bool:
        with self.changed:
            return self.changed.wait_for(predicate, timeout)  # type: ignore[arg-type]

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        end = time.monotonic() + self.limit_s
        if self.tls is not None:
            conn.settimeout(self.limit_s)
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except OSError:
                conn.close()
                return
        with conn:
            target = _request_target(conn, end)
            if target is None:
                return
            parts = urlsplit(target)
            with self.changed:
                self.requests[parts.path] += 1
                self.changed.notify_all()
            if parts.path.startswith("/hold/"):
                self._hold(conn, end)
            else:
                _send(conn, self._pieces(parts.path, parse_qs(parts.query)), end, self._stop)

    def _pieces(self, path: str, query: dict[str, list[str]]) -> list[Piece]:
        count = int(query.get("count", ["0"])[0])
        every = float(query.get("every", ["0"])[0])
        kind, _, name = path[1:].partition("/")
        if kind == "drip" and name in PHASES:
            return schedule(name, count, every)
        if kind == "hop" and name.isdigit() and int(name) > 0:
            to = f"/hop/{int(name) - 1}?count={count}&every={every}"
            head = f"HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nX-Slow: "
            return [(head.encode(), 0), (b"a" * count, every), (b"\r\n\r\n", 0)]
        if kind == "hop":
            return [(answer(body(count)), 0)]
        if kind == "file" and name in self.files:
            return [(answer(self.files[name]), 0)]
        return [(answer(b"no", "404 Not Found"), 0)]

    def _hold(self, conn: socket.socket, end: float) -> None:
        with self.changed:
            self.held += 1
            self.changed.notify_all()
        try:
            # A byte now and then, so that only a deadline over the whole fetch ends it.
            while not self._release.wait(0.05) and time.monotonic() < end:
                conn.sendall(b"H")
        except OSError:
            pass
        finally:
            with self.changed:
                self.held -= 1
                self.changed.notify_all()


def _request_target(conn: socket.socket, end: float) -> str | None:
    """Reads the request head; its target, or None when the client went away."""
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        conn.settimeout(max(0.01, end - time.monotonic()))
        try:
            chunk = conn.recv(4096)
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    line = data.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
    return line[1] if len(line) == 3 else None


def _send(conn: socket.socket, pieces: list[Piece], end: float, stop: threading.Event) -> None:
    try:
        for data, every in pieces:
            if not every:
                conn.sendall(data)
                continue
            for i in range(len(data)):
                if stop.wait(every) or time.monotonic() >= end:
                    return
                conn.sendall(data[i:i + 1])
    except OSError:
        pass  # the client went away: that is how most of these answers end
