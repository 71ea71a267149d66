"""Reading what a page sends: size-capped bodies, JSON, and the SDK filter it describes.

Shapes are checked here (a list of text, a whole number); what the values may be (a
label's characters, a cluster's range) is checked by the SDK with the server's own limits.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from starlette.requests import Request

from lookalike.clients.filters import Equals, Exists, Filter, Range
from lookalike.ui.config import MAX_JSON_BYTES
from lookalike.ui.errors import HttpError

MIB = 1024 * 1024
MAX_LIST = 200_000  # ids in one request (a lasso over a 100K-point map and then some)


def too_large(size: int, cap: int, what: str) -> HttpError:
    return HttpError(413, f"{what} is {size:,} bytes; the web app takes at most {cap:,} bytes "
                          f"({cap / MIB:.0f} MiB)", "TooLarge")


async def read_body(request: Request, cap: int, what: str = "the request") -> bytes:
    """The body, refused with 413 as soon as it is known to be over cap."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise too_large(int(declared), cap, what)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise too_large(size, cap, what)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, cap: int = MAX_JSON_BYTES) -> dict[str, Any]:
    """The body as a JSON object."""
    body = await read_body(request, cap)
    try:
        value = json.loads(body or b"{}")
    except (ValueError, RecursionError):
        raise HttpError(400, "the request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise HttpError(400, "the request body must be a JSON object")
    return value


def image_of(value: Any, cap: int) -> bytes:
    """A base64 image (a data: URL or bare base64), decoded and size-capped."""
    if not isinstance(value, str):
        raise HttpError(400, "image must be base64 text (or a data: URL)")
    text = value.split(",", 1)[1] if value.startswith("data:") else value
    if len(text) * 3 // 4 > cap:
        raise too_large(len(text) * 3 // 4, cap, "the image")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise HttpError(400, "image is not valid base64") from None


def texts(value: Any, name: str, most: int = MAX_LIST) -> list[str]:
    """A list of text (or one text), at most `most` entries."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise HttpError(400, f"{name} must be a list of text")
    if len(value) > most:
        raise HttpError(413, f"{name} has {len(value):,} entries; at most {most:,}", "TooLarge")
    return value


def whole(value: Any, name: str, low: int, high: int, default: int | None = None) -> int:
    """A whole number from low to high (JSON number or query-string text)."""
    if value is None and default is not None:
        return default
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise HttpError(400, f"{name} must be a whole number from {low} to {high}, got "
                             f"{str(value)[:40]!r}")
    return value


def _number(value: Any, name: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise HttpError(400, f"{name} must be a number")
    return float(value)


def _condition(spec: Any, n: int) -> Equals | Range | Exists:
    """{"key", "equals"} | {"key", "min", "max"} | {"key", "exists": true}."""
    if not isinstance(spec, dict) or not isinstance(spec.get("key"), str):
        raise HttpError(400, f"filter.attributes[{n}] must be an object with a text 'key'")
    key = spec["key"]
    if "equals" in spec:
        value = spec["equals"]
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise HttpError(400, f"filter.attributes[{n}].equals must be text or a number")
        return Equals(key, float(value) if isinstance(value, int | float) else value)
    if "min" in spec or "max" in spec:
        return Range(key, _number(spec.get("min"), f"filter.attributes[{n}].min"),
                     _number(spec.get("max"), f"filter.attributes[{n}].max"))
    if spec.get("exists") is True:
        return Exists(key)
    raise HttpError(400, f"filter.attributes[{n}] must have 'equals', 'min'/'max' or "
                         "'exists': true")


def filter_of(spec: Any) -> Filter | None:
    """The SDK Filter a page's filter object describes; None for no filter."""
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise HttpError(400, "filter must be an object")
    unknown = set(spec) - {"any_labels", "all_labels", "none_labels", "attributes", "clusters",
                           "path_prefix"}
    if unknown:
        raise HttpError(400, f"filter has unknown fields: {', '.join(sorted(unknown))[:200]}")
    attributes = spec.get("attributes") or []
    if not isinstance(attributes, list):
        raise HttpError(400, "filter.attributes must be a list")
    clusters = spec.get("clusters")
    if clusters is not None:
        if not isinstance(clusters, list):
            raise HttpError(400, "filter.clusters must be a list of whole numbers")
        clusters = [whole(c, "filter.clusters[]", 0, 2**31 - 1) for c in clusters] or None
    prefix = spec.get("path_prefix") or ""
    if not isinstance(prefix, str):
        raise HttpError(400, "filter.path_prefix must be text")
    found = Filter(any_labels=tuple(texts(spec.get("any_labels"), "filter.any_labels")),
                   all_labels=tuple(texts(spec.get("all_labels"), "filter.all_labels")),
                   none_labels=tuple(texts(spec.get("none_labels"), "filter.none_labels")),
                   attributes=tuple(_condition(a, n) for n, a in enumerate(attributes)),
                   path_prefix=prefix, clusters=clusters)
    return None if found == Filter() else found
