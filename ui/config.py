"""The web app's settings, one frozen dataclass built from flags in one place (app/ui.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from lookalike.clients.channel import ClientConfig

# An uploaded query image larger than this is refused (413) before it is read to the end:
# the server refuses far smaller pixel counts anyway, and a phone photo is 3-8 MiB.
MAX_UPLOAD_BYTES = 16 * 1024 * 1024
# A JSON request besides an upload (labels, ids, filters): 1,000 ids of 64 characters fit.
MAX_JSON_BYTES = 1024 * 1024
THUMB_SIZE = 128  # pixels, the longest side of a grid tile (the Thumbnail RPC's default)
THUMB_CACHE_BYTES = 64 * 1024 * 1024  # thumbnails kept in the UI process (about 10K tiles)


@dataclass(frozen=True)
class UiConfig:
    """What the web app serves and which server it asks.

    Attributes:
        target: the lookalike server's HOST:PORT.
        client: the SDK settings (token, TLS, timeout) used for every call; the token is
            sent to the server only, never to a browser.
        host: the address the web app listens on; loopback unless told otherwise.
        port: its HTTP port (0 picks a free one).
        allowed_hosts: Host header values accepted besides the listening address and
            localhost (a name the app is reached by); a wildcard bind accepts any Host.
        fetch_private: let "search by URL" fetch loopback and private addresses (off: the
            app's own network is not reachable through it).
    """

    target: str
    client: ClientConfig = field(default_factory=ClientConfig)
    host: str = "127.0.0.1"
    port: int = 8080
    allowed_hosts: tuple[str, ...] = ()
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    fetch_private: bool = False
    thumb_cache_bytes: int = THUMB_CACHE_BYTES
