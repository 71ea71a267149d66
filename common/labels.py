"""Labels and attributes of an image: the limits every store, the server and the SDK check."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple

from lookalike.common.errors import InvalidArgument

MAX_LABEL = 64  # characters in a label (and a cluster name)
MAX_KEY = 64  # characters in an attribute key
MAX_TEXT = 1024  # characters in a text value
MAX_LABELS = 64  # labels on one image
MAX_ATTRIBUTES = 32  # attributes on one image
KEY = re.compile(r"[A-Za-z0-9_.\-]{1,64}")

Value = str | float
# Unicode's Cc (control) and Cs (surrogate) categories, exactly: one regex search is ~10x
# faster than asking unicodedata for every character (a 100K-row label import checks each).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
NO_ATTRIBUTES: Mapping[str, Value] = MappingProxyType({})


class Payload(NamedTuple):
    """What is attached to one image: its labels and its attributes (key -> text or number)."""

    labels: frozenset[str] = frozenset()
    attributes: Mapping[str, Value] = NO_ATTRIBUTES

    @property
    def empty(self) -> bool:
        return not self.labels and not self.attributes


EMPTY = Payload()


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(f"{what} must be text, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArgument(f"{what} is not valid UTF-8 (a lone surrogate)") from None
    if _CONTROL.search(value):
        raise InvalidArgument(f"{what} {value[:80]!r} has a control character")
    return value


def check_label(label: object, what: str = "label") -> str:
    """The label with surrounding spaces stripped.

    Raises:
        InvalidArgument: not text, empty once stripped, over MAX_LABEL characters, a control
            character, or a lone surrogate.
    """
    text = _text(label, what).strip()
    if not text:
        raise InvalidArgument(f"{what} is empty")
    if len(text) > MAX_LABEL:
        raise InvalidArgument(f"{what} {text[:20]!r}... has {len(text)} characters; at most "
                              f"{MAX_LABEL}")
    return text


def check_labels(labels: Iterable[object], what: str = "labels") -> frozenset[str]:
    """The distinct stripped labels; more than MAX_LABELS distinct ones is refused."""
    got = frozenset(check_label(label, f"{what}[{i}]") for i, label in enumerate(labels))
    if len(got) > MAX_LABELS:
        raise InvalidArgument(f"{what}: {len(got)} labels; at most {MAX_LABELS} per image")
    return got


def check_key(key: object, what: str = "attribute key") -> str:
    if not isinstance(key, str) or not KEY.fullmatch(key):
        raise InvalidArgument(f"{what} {str(key)[:80]!r} must be 1-{MAX_KEY} characters of "
                              "A-Z a-z 0-9 _ . -")
    return key


def check_value(value: object, what: str = "attribute value") -> Value:
    """A text value (at most MAX_TEXT characters) or a finite number (as a float)."""
    if isinstance(value, bool):
        raise InvalidArgument(f"{what} must be text or a number, not a boolean")
    if isinstance(value, (int, float)):
        number = float(value)
        if not math.isfinite(number):
            raise InvalidArgument(f"{what} is {value}; numbers must be finite")
        return number
    text = _text(value, what)
    if len(text) > MAX_TEXT:
        raise InvalidArgument(f"{what} has {len(text)} characters; at most {MAX_TEXT}")
    return text


def check_attributes(attributes: Iterable[tuple[object, object]],
                     what: str = "attributes") -> dict[str, Value]:
    """Checked (key, value) pairs as a dict; a key given twice or too many keys is refused."""
    got: dict[str, Value] = {}
    for i, (key, value) in enumerate(attributes):
        name = check_key(key, f"{what}[{i}] key")
        if name in got:
            raise InvalidArgument(f"{what}: key {name!r} is given twice")
        got[name] = check_value(value, f"{what}[{i}] ({name}) value")
    if len(got) > MAX_ATTRIBUTES:
        raise InvalidArgument(f"{what}: {len(got)} attributes; at most {MAX_ATTRIBUTES} per "
                              "image")
    return got


def check_payload(labels: Iterable[object] = (), attributes: Iterable[tuple[object, object]]
                  = (), what: str = "") -> Payload:
    """A checked Payload; `what` names the row in messages (e.g. "row 3: ")."""
    return Payload(check_labels(labels, f"{what}labels"),
                   MappingProxyType(check_attributes(attributes, f"{what}attributes")))


@dataclass(frozen=True)
class Change:
    """One bulk change of labels and attributes, applied the same way to every target image."""

    add_labels: frozenset[str] = frozenset()
    remove_labels: frozenset[str] = frozenset()
    set_attributes: Mapping[str, Value] = field(default_factory=dict)
    clear_attributes: frozenset[str] = frozenset()
    # UpdateMany's "exactly these": the labels become add_labels, the attributes
    # set_attributes (whatever the image carried before).
    replace_labels: bool = False
    replace_attributes: bool = False

    @classmethod
    def checked(cls, add_labels: Iterable[object] = (), remove_labels: Iterable[object] = (),
                set_attributes: Iterable[tuple[object, object]] = (),
                clear_attributes: Iterable[object] = (), replace_labels: bool = False,
                replace_attributes: bool = False) -> Change:
        """Raises InvalidArgument for a bad value, a label both added and removed, a key both
        set and cleared, a replacement with labels to remove or keys to clear, or a change
        that changes nothing (a replacement always says something: "exactly these")."""
        add = check_labels(add_labels, "add_labels")
        remove = frozenset(check_label(x, f"remove_labels[{i}]")
                           for i, x in enumerate(remove_labels))
        sets = check_attributes(set_attributes, "set_attributes")
        clear = frozenset(check_key(x, f"clear_attributes[{i}]")
                          for i, x in enumerate(clear_attributes))
        if add & remove:
            raise InvalidArgument(f"label {sorted(add & remove)[0]!r} is both added and removed")
        if clear & sets.keys():
            raise InvalidArgument(f"attribute {sorted(clear & sets.keys())[0]!r} is both set "
                                  "and cleared")
        if replace_labels and remove:
            raise InvalidArgument("replace_labels sets the labels to add_labels exactly: "
                                  "remove_labels must be empty")
        if replace_attributes and clear:
            raise InvalidArgument("replace_attributes sets the attributes to set_attributes "
                                  "exactly: clear_attributes must be empty")
        if not (add or remove or sets or clear or replace_labels or replace_attributes):
            raise InvalidArgument("the update changes nothing: give labels to add or remove, or "
                                  "attributes to set or clear")
        return cls(add, remove, MappingProxyType(sets), clear, bool(replace_labels),
                   bool(replace_attributes))

    def apply(self, payload: Payload, what: str = "image") -> Payload:
        """The payload after this change; over MAX_LABELS or MAX_ATTRIBUTES is refused."""
        labels = self.add_labels if self.replace_labels else (
            (payload.labels - self.remove_labels) | self.add_labels)
        attributes = {} if self.replace_attributes else {
            k: v for k, v in payload.attributes.items() if k not in self.clear_attributes}
        attributes.update(self.set_attributes)
        if len(labels) > MAX_LABELS:
            raise InvalidArgument(f"{what} would carry {len(labels)} labels; at most "
                                  f"{MAX_LABELS}; nothing was changed")
        if len(attributes) > MAX_ATTRIBUTES:
            raise InvalidArgument(f"{what} would carry {len(attributes)} attributes; at most "
                                  f"{MAX_ATTRIBUTES}; nothing was changed")
        return Payload(labels, MappingProxyType(attributes))


def check_cluster_name(name: object) -> str:
    """A cluster name follows the label rules; empty (after stripping) clears the name."""
    text = _text(name, "cluster name").strip()
    return check_label(text, "cluster name") if text else ""
