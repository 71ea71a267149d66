"""Safe by default: a Host check on every request (DNS rebinding), a per-process CSRF token
and a same-origin check on every state-changing one, and headers that keep pages inert."""

from __future__ import annotations

import hmac
import secrets

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lookalike.ui.errors import error_response

CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
WILDCARD_BINDS = frozenset({"0.0.0.0", "::", "[::]", ""})
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
# Scripts and styles only from the app itself (no inline script, so even a mistake that put
# data into markup could not run); images also from blob: for a dropped query's preview.
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
                               "script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "object-src 'none'; base-uri 'none'; form-action 'self'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def new_csrf_token() -> str:
    """A fresh token for this process: pages carry it, POSTs must send it back."""
    return secrets.token_urlsafe(32)


def host_names(bind: str, extra: tuple[str, ...]) -> frozenset[str] | None:
    """The Host names accepted, or None (any) when bound to every interface."""
    if bind in WILDCARD_BINDS:
        return None
    return frozenset(n.lower() for n in (*LOOPBACK_NAMES, bind, *extra))


def _hostname(host: str) -> str:
    """'example:8080' -> 'example'; '[::1]:8080' -> '[::1]'."""
    host = host.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def refusal(method: str, headers: Headers, scheme: str, csrf: str,
            hosts: frozenset[str] | None) -> str | None:
    """Why a request is refused (403), or None to let it through."""
    host = headers.get("host", "")
    if hosts is not None and _hostname(host) not in hosts:
        return (f"Host {host[:100]!r} is not this web app's address; start `lookalike ui` "
                "with --allow-host NAME to reach it by that name")
    if method in SAFE_METHODS:
        return None
    site = headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return f"cross-site request refused (Sec-Fetch-Site: {site[:40]})"
    origin = headers.get("origin")
    if origin is not None and origin != f"{scheme}://{host}":
        return f"cross-origin request refused (Origin {origin[:100]!r})"
    given = headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(given.encode(), csrf.encode()):
        return (f"missing or wrong {CSRF_HEADER} header: reload the page (the web app was "
                "restarted) and try again")
    return None


class Guard:
    """ASGI middleware applying `refusal` and adding HEADERS to every answer."""

    def __init__(self, app: ASGIApp, csrf: str, hosts: frozenset[str] | None) -> None:
        self.app = app
        self.csrf = csrf
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        why = refusal(scope["method"], Headers(scope=scope), scope.get("scheme", "http"),
                      self.csrf, self.hosts)
        if why is not None:
            await error_response(403, why, "Forbidden")(scope, receive, send)
            return

        async def send_guarded(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for key, value in HEADERS.items():
                    headers.setdefault(key, value)
            await send(message)

        await self.app(scope, receive, send_guarded)
