"""Browse page tokens: opaque, bound to one collection and one filter, and tamper-evident."""

from __future__ import annotations

import base64
import binascii
import hmac
import struct

from lookalike.common.errors import InvalidArgument
from lookalike.common.filters import Filter

VERSION = 1
_BODY = struct.Struct("<Bq")  # version, the last row number of the page before
_MAC = 16
DEFAULT_PAGE = 100
MAX_PAGE = 1000


def make_token(secret: bytes, f: Filter, after: int) -> str:
    """A token that resumes a browse of filter f after row number `after`.

    secret: the collection's own key (a store keeps one per collection), so a token of one
    collection fails in another.
    """
    body = _BODY.pack(VERSION, after)
    mac = hmac.new(secret, body + f.digest(), "sha256").digest()[:_MAC]
    return base64.urlsafe_b64encode(body + mac).decode().rstrip("=")


def read_token(secret: bytes, f: Filter, token: str) -> int:
    """The row number a token resumes after (0 for the empty first-page token).

    Raises:
        InvalidArgument: a token that is malformed, altered, or made for another collection
            or another filter.
    """
    if not token:
        return 0
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != _BODY.size + _MAC or raw[0] != VERSION:
        raise InvalidArgument("page_token is not a token this server made")
    body, mac = raw[: _BODY.size], raw[_BODY.size :]
    want = hmac.new(secret, body + f.digest(), "sha256").digest()[:_MAC]
    if not hmac.compare_digest(mac, want):
        raise InvalidArgument("page_token was made for another collection or another filter, "
                              "or was altered; start again with an empty token")
    return int(_BODY.unpack(body)[1])


def check_page_size(size: int) -> int:
    """0 means DEFAULT_PAGE; otherwise 1 to MAX_PAGE."""
    if size == 0:
        return DEFAULT_PAGE
    if not 1 <= size <= MAX_PAGE:
        raise InvalidArgument(f"page_size must be 1 to {MAX_PAGE} (0: {DEFAULT_PAGE}), got {size}")
    return size


KEY_VERSION = 2  # a token that resumes after a text key (the Milvus store's primary key)


def make_key_token(secret: bytes, f: Filter, after: str) -> str:
    """As make_token, for a store ordered by a text key (Milvus: no row numbers)."""
    body = bytes([KEY_VERSION]) + after.encode("utf-8")
    mac = hmac.new(secret, body + f.digest(), "sha256").digest()[:_MAC]
    return base64.urlsafe_b64encode(body + mac).decode().rstrip("=")


def read_key_token(secret: bytes, f: Filter, token: str) -> str | None:
    """The key a make_key_token token resumes after (None for the empty first-page token).

    Raises:
        InvalidArgument: as read_token.
    """
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) <= _MAC or raw[0] != KEY_VERSION:
        raise InvalidArgument("page_token is not a token this server made")
    body, mac = raw[:-_MAC], raw[-_MAC:]
    want = hmac.new(secret, body + f.digest(), "sha256").digest()[:_MAC]
    if not hmac.compare_digest(mac, want):
        raise InvalidArgument("page_token was made for another collection or another filter, "
                              "or was altered; start again with an empty token")
    return body[1:].decode("utf-8")
