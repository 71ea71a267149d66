"""Labels and attributes in Milvus: one JSON field per image, and filters as Milvus expressions.

An image's payload is the JSON field `payload`: {"l": [labels], "t": {key: text},
"n": {key: number}, "k": [every attribute key], "nk": [the number keys]}. Text and number
attributes sit under separate keys so that every comparison Milvus makes is between values
of one type: the reference semantics (filters.matches) never let the text "5" equal the
number 5. The key lists answer "exists" with json_contains, which every 2.3 server has.

A Filter becomes a Milvus boolean expression here and only here. User text (labels, values,
path prefixes) enters it only as JSON string literals (Milvus's grammar reads JSON's escapes),
numbers only as Python float reprs, attribute keys only after labels.check_key (A-Z a-z 0-9
_ . -), and cluster numbers as ints: no user text is ever expression syntax. A path prefix
is a range of strings (path >= p and path < the next string after every one starting with
p), not `like`, whose wildcards a path may hold.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from lookalike.common.errors import InvalidArgument
from lookalike.common.filters import Condition, Filter
from lookalike.common.labels import EMPTY, Payload, check_key

FIELD = "payload"
# Bytes of one payload as JSON: Milvus 2.3 holds 65,536 in a JSON field, and a rewrite
# (rewrite.py) stashes the payload beside the id (up to 16 KiB) and a little more.
MAX_JSON = 40_000
LABELS, TEXT, NUMBER, KEYS, NUMBER_KEYS = "l", "t", "n", "k", "nk"
LAST = 0x10FFFF


def to_json(payload: Payload | None) -> dict[str, Any]:
    """The payload as stored: every key present, so expressions never meet a missing one."""
    p = payload or EMPTY
    text = {k: v for k, v in p.attributes.items() if isinstance(v, str)}
    number = {k: float(v) for k, v in p.attributes.items() if not isinstance(v, str)}
    return {LABELS: sorted(p.labels), TEXT: text, NUMBER: number,
            KEYS: sorted(p.attributes), NUMBER_KEYS: sorted(number)}


def check_size(payloads: Iterable[Payload | None], what: str = "image") -> None:
    """Refuses a payload over Milvus's JSON limit (only many long attribute texts reach it)."""
    for n, payload in enumerate(payloads):
        size = len(json.dumps(to_json(payload), ensure_ascii=False).encode())
        if size > MAX_JSON:
            raise InvalidArgument(f"{what} {n}: its labels and attributes take {size} bytes "
                                  f"as JSON; at most {MAX_JSON} in Milvus mode")


def from_json(stored: Mapping[str, Any] | None) -> Payload:
    """The Payload of a stored JSON value (None or {}: a row written before labels)."""
    if not stored:
        return EMPTY
    attributes: dict[str, str | float] = dict(stored.get(TEXT) or {})
    attributes.update({k: float(v) for k, v in (stored.get(NUMBER) or {}).items()})
    labels = frozenset(stored.get(LABELS) or ())
    if not labels and not attributes:
        return EMPTY
    return Payload(labels, MappingProxyType(attributes))


def string(text: str) -> str:
    """A Milvus string literal holding text as data."""
    return json.dumps(text, ensure_ascii=False)


def strings(texts: Iterable[str]) -> str:
    """A Milvus list of string literals, sorted (one filter, one expression)."""
    return json.dumps(sorted(texts), ensure_ascii=False)


def number(value: float) -> str:
    if not math.isfinite(value):
        raise InvalidArgument(f"a filter number must be finite, got {value}")
    return repr(float(value))


def _key(section: str, key: str) -> str:
    return f'{FIELD}["{section}"]["{check_key(key)}"]'


def condition(c: Condition) -> str:
    """One attribute test as an expression."""
    if c.equals is not None:
        if isinstance(c.equals, str):
            return f"{_key(TEXT, c.key)} == {string(c.equals)}"
        return f"{_key(NUMBER, c.key)} == {number(c.equals)}"
    if c.range is not None:
        r, at, parts = c.range, _key(NUMBER, c.key), []
        if r.low != -math.inf:
            parts.append(f"{at} {'>' if r.low_exclusive else '>='} {number(r.low)}")
        if r.high != math.inf:
            parts.append(f"{at} {'<' if r.high_exclusive else '<='} {number(r.high)}")
        # An unbounded range still asks for a number.
        return " and ".join(parts) or _has(NUMBER_KEYS, c.key)
    return _has(KEYS, c.key)


def _has(section: str, key: str) -> str:
    return f'json_contains({FIELD}["{section}"], {string(check_key(key))})'


def successor(prefix: str) -> str | None:
    """The least string above every string that starts with prefix (code point order, which
    is UTF-8 byte order, Milvus's string order); None when there is none."""
    while prefix:
        last = ord(prefix[-1])
        if last < LAST:
            following = last + 1 if last + 1 != 0xD800 else 0xE000  # past the surrogates
            return prefix[:-1] + chr(following)
        prefix = prefix[:-1]
    return None


def path_range(prefix: str) -> str:
    upper = successor(prefix)
    low = f"path >= {string(prefix)}"
    return low if upper is None else f"{low} and path < {string(upper)}"


def expression(f: Filter, labelled: bool = True) -> str:
    """The Milvus expression matching exactly the images f matches; "" for every image.

    labelled: whether the collection has the payload field; without it (a collection built
    before labels) every image carries nothing, so a label or attribute test that needs a
    value matches nothing, and none_of matches everything.
    """
    parts: list[str] = []
    if f.clusters is not None:
        parts.append(f"cluster in {sorted(int(c) for c in f.clusters)}")
    if f.path_prefix:
        parts.append(path_range(f.path_prefix))
    needs_value = bool(f.any_of or f.all_of or f.conditions)
    if not labelled:
        return "cluster < -1" if needs_value else " and ".join(parts)  # "cluster < -1": none
    labels = f'{FIELD}["{LABELS}"]'
    if f.any_of:
        parts.append(f"json_contains_any({labels}, {strings(f.any_of)})")
    if f.all_of:
        parts.append(f"json_contains_all({labels}, {strings(f.all_of)})")
    if f.none_of:
        parts.append(f"not json_contains_any({labels}, {strings(f.none_of)})")
    parts += [f"({condition(c)})" for c in sorted(f.conditions, key=repr)]
    return " and ".join(parts)


def both(*expressions: str) -> str:
    """The conjunction of the non-empty expressions, each parenthesised."""
    return " and ".join(f"({e})" for e in expressions if e)
