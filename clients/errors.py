"""Mapping gRPC errors back to lookalike's domain exceptions, with the server's message."""

from __future__ import annotations

import grpc

from lookalike.common.errors import (
    ERROR_KIND_KEY,
    DeadlineExceeded,
    LookalikeError,
    Unavailable,
    all_error_classes,
)
from lookalike.proto.v1 import lookalike_pb2 as pb

# What grpc reports when an answer's bytes do not parse as the message the call expects.
_UNPARSED = "Exception deserializing response!"


class BadAnswer(LookalikeError):
    """The server's answer breaks the lookalike.v1 contract: a missing, repeated, mislabelled
    or unparsable answer. The server may be old, broken, or not a lookalike server."""


def _by_code() -> dict[str, type[LookalikeError]]:
    table: dict[str, type[LookalikeError]] = {}
    # Walk parents before children so each code maps to its most general class.
    for cls in sorted(all_error_classes().values(), key=lambda c: len(c.__mro__)):
        table.setdefault(cls.code, cls)
    return table


def from_rpc_error(err: grpc.RpcError, target: str = "") -> LookalikeError:
    """The domain exception for a failed call: the class the server named, else its code's."""
    code = err.code() if hasattr(err, "code") else None
    details = err.details() if hasattr(err, "details") else str(err)
    kind = None
    if hasattr(err, "trailing_metadata"):
        kind = dict(err.trailing_metadata() or ()).get(ERROR_KIND_KEY)
    classes = all_error_classes()
    if kind in classes:
        return classes[kind](details)
    if code == grpc.StatusCode.UNAVAILABLE:
        return Unavailable(f"the server at {target} is unavailable: {details}")
    if code == grpc.StatusCode.INTERNAL and details == _UNPARSED:
        return BadAnswer(f"the answer from {target} is not a lookalike.v1 message")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return DeadlineExceeded(f"no answer from {target} before the deadline")
    name = code.name if code is not None else "UNKNOWN"
    return _by_code().get(name, LookalikeError)(f"{name}: {details}")


def from_row_error(error: pb.Error) -> LookalikeError:
    """The exception for one failed row of a stream."""
    classes = all_error_classes()
    if error.kind in classes:
        return classes[error.kind](error.message)
    names = {code.value[0]: code.name for code in grpc.StatusCode}
    return _by_code().get(names.get(error.code, ""), LookalikeError)(error.message)
