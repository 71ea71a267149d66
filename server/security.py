"""Bearer tokens with read/write scopes (an interceptor), and TLS server credentials."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from lookalike.common.errors import (
    InvalidArgument,
    LookalikeError,
    PermissionDenied,
    Unauthenticated,
)
from lookalike.proto.v1 import lookalike_pb2 as pb
from lookalike.server.handlers import refusing_handler

logger = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Lookalike"].full_name
# Load balancers and tools must reach these without a token.
OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
WRITE_METHODS = frozenset(f"/{SERVICE_NAME}/{name}"
                          for name in ("Add", "Delete", "Update", "NameCluster", "UpdateMany"))
SCOPES = ("read", "write")


@dataclass(frozen=True)
class Token:
    scope: str  # "read" or "write"; write may also read
    secret: bytes


def load_tokens(path: str | Path) -> tuple[Token, ...]:
    """Reads a token file: lines "read TOKEN" or "write TOKEN"; blank lines and # comments.

    Raises:
        InvalidArgument: an unreadable file, a malformed line, or no tokens at all.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"cannot read the token file {path}: {exc}") from None
    tokens: list[Token] = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or parts[0] not in SCOPES:
            raise InvalidArgument(
                f"{path} line {number}: expected 'read TOKEN' or 'write TOKEN'")
        tokens.append(Token(parts[0], parts[1].encode()))
    if not tokens:
        raise InvalidArgument(f"{path} holds no tokens; every call would be refused")
    return tuple(tokens)


def bearer(metadata: Any) -> bytes | None:
    """The token of an `authorization: Bearer TOKEN` header, if any."""
    for key, value in metadata or ():
        if key == "authorization":
            text = value.decode() if isinstance(value, bytes) else value
            scheme, _, token = text.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip().encode()
    return None


def scope_of(given: bytes, tokens: tuple[Token, ...]) -> str | None:
    """The scope of a known token. Compares with every token, in constant time each."""
    scope = None
    for token in tokens:
        if hmac.compare_digest(given, token.secret):
            scope = token.scope if scope != "write" else scope
    return scope


class TokenAuth(grpc.ServerInterceptor):
    """Refuses calls without a known token (UNAUTHENTICATED) or with a read token on writes
    (PERMISSION_DENIED); health checks and reflection stay open."""

    def __init__(self, tokens: tuple[Token, ...]) -> None:
        self._tokens = tokens

    def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], Any],
        details: grpc.HandlerCallDetails,
    ) -> Any:
        if details.method.startswith(OPEN_PREFIXES):
            return continuation(details)
        given = bearer(details.invocation_metadata)
        scope = scope_of(given, self._tokens) if given is not None else None
        error: LookalikeError | None = None
        if scope is None:
            error = Unauthenticated(
                "this server needs a token: send the metadata 'authorization: Bearer TOKEN'"
                if given is None else "the token is not valid for this server")
        elif details.method in WRITE_METHODS and scope != "write":
            name = details.method.rsplit("/", 1)[-1]
            error = PermissionDenied(f"{name} needs a write token; this token may only read")
        handler = continuation(details)
        if error is None or handler is None:
            return handler
        return refusing_handler(handler, error)


def server_credentials(cert: str | Path, key: str | Path) -> grpc.ServerCredentials:
    """TLS credentials from PEM files (the certificate chain and its private key)."""
    try:
        chain = Path(cert).read_bytes()
        private = Path(key).read_bytes()
    except OSError as exc:
        raise InvalidArgument(f"cannot read the TLS certificate or key: {exc}") from None
    if b"-----BEGIN" not in chain or b"-----BEGIN" not in private:
        raise InvalidArgument(f"{cert} and {key} must be PEM files (-----BEGIN ...)")
    return grpc.ssl_server_credentials([(private, chain)])
