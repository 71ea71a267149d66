"""Fetching an image URL with a timeout, a byte cap and a redirect limit."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass

from lookalike.common.errors import InvalidArgument, NotFound, ResourceExhausted


@dataclass(frozen=True)
class FetchLimits:
    timeout_s: float = 10.0
    max_bytes: int = 32 * 1024 * 1024
    max_redirects: int = 2


class _LimitedRedirects(urllib.request.HTTPRedirectHandler):
    def __init__(self, limit: int) -> None:
        self.max_redirections = limit
        self.max_repeats = limit


def fetch_url(url: str, limits: FetchLimits = FetchLimits()) -> bytes:
    """Downloads url and returns its bytes.

    Raises:
        InvalidArgument: not an http(s) URL.
        NotFound: the server answered with an error status or could not be reached.
        ResourceExhausted: the body is over limits.max_bytes.
    """
    if not url.startswith(("http://", "https://")):
        raise InvalidArgument(f"not an http(s) URL: {url!r}")
    opener = urllib.request.build_opener(_LimitedRedirects(limits.max_redirects))
    try:
        with opener.open(url, timeout=limits.timeout_s) as response:
            body = response.read(limits.max_bytes + 1)
    except urllib.error.HTTPError as exc:
        raise NotFound(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise NotFound(f"{url}: could not fetch ({reason})") from None
    if len(body) > limits.max_bytes:
        raise ResourceExhausted(f"{url}: more than {limits.max_bytes} bytes")
    return body
