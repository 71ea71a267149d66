"""Checks shared by every message the SDK reads or writes: text the wire can carry, int32
ranges, and answers whose bytes or field types break the lookalike.v1 contract."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from google.protobuf.message import Message
from google.protobuf.unknown_fields import UnknownFieldSet

from lookalike.clients.errors import BadAnswer
from lookalike.common.errors import InvalidArgument

INT32_MAX = 2**31 - 1
SHOWN_CHARS = 80  # how much of a caller's text an error message quotes


def shown(value: object) -> str:
    """repr(value), cut to SHOWN_CHARS: messages quote user text, never all of it."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


def text(value: object, what: str) -> str:
    """value, when it is a str the wire can carry.

    Raises:
        InvalidArgument: not a str, or not encodable as UTF-8 (a lone surrogate).
    """
    if not isinstance(value, str):
        raise InvalidArgument(f"{what} must be text, got {type(value).__name__} {shown(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidArgument(
            f"{what} {shown(value)} is not valid UTF-8 text ({exc.reason} at character "
            f"{exc.start})") from None
    return value


def int32(value: object, what: str) -> int:
    """value, when it is an int that fits the wire's int32."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidArgument(f"{what} must be an int, got {shown(value)}")
    if not -INT32_MAX - 1 <= value <= INT32_MAX:
        raise InvalidArgument(f"{what} {value} is out of range")
    return int(value)


def parsed(answer: Any, target: str) -> Any:
    """answer, unless grpc could not parse its bytes: grpc.aio then gives None where grpc
    raises INTERNAL (which clients/errors.py maps to the same BadAnswer)."""
    if answer is None:
        raise BadAnswer(f"the answer from {target} is not a lookalike.v1 message")
    return answer


def wrong_types(message: Message) -> list[str]:
    """The fields the contract knows that arrived with another wire type, here or nested.

    protobuf keeps such a field as an unknown one and reads it as unset, so a neighbour
    list of the wrong type would come out as no neighbours. Unknown field numbers (a newer
    server's fields) are not wrong.
    """
    descriptor = message.DESCRIPTOR
    wrong = [descriptor.fields_by_number[f.field_number].name for f in UnknownFieldSet(message)
             if f.field_number in descriptor.fields_by_number]
    for name, repeated in _nested(descriptor):
        if repeated:
            for item in getattr(message, name):
                wrong += wrong_types(item)
        elif message.HasField(name):
            wrong += wrong_types(getattr(message, name))
    return wrong


@functools.cache
def _nested(descriptor: Any) -> tuple[tuple[str, bool], ...]:
    """The message-typed fields of a message type: (name, repeated)."""
    return tuple((f.name, f.is_repeated) for f in descriptor.fields
                 if f.message_type is not None)


def checked(message: Message, what: str) -> None:
    """Raises BadAnswer when the answer has fields of the wrong type (wrong_types)."""
    if wrong := wrong_types(message):
        raise BadAnswer(f"{what} has fields of the wrong type: {', '.join(sorted(set(wrong)))}")
