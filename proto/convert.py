"""Checked values and filters (lookalike.common) as lookalike.v1 messages: the one writer of
them, shared by the server's answers and the SDK's requests."""

from __future__ import annotations

import math
from collections.abc import Mapping

from lookalike.common.filters import Filter
from lookalike.common.labels import Value
from lookalike.proto.v1 import lookalike_pb2 as pb


def value_to(value: Value) -> pb.Value:
    return pb.Value(text=value) if isinstance(value, str) else pb.Value(number=value)


def attributes_to(attrs: Mapping[str, Value]) -> list[pb.Attribute]:
    return [pb.Attribute(key=k, value=value_to(attrs[k])) for k in sorted(attrs)]


def filter_to(f: Filter) -> pb.Filter:
    """The Filter message of a checked filter (an infinite range bound is left unset)."""
    conditions = []
    for c in f.conditions:
        if c.equals is not None:
            conditions.append(pb.Condition(key=c.key, equals=value_to(c.equals)))
        elif c.range is not None:
            r = c.range
            conditions.append(pb.Condition(key=c.key, range=pb.Range(
                min=r.low if math.isfinite(r.low) else None,
                max=r.high if math.isfinite(r.high) else None,
                min_exclusive=r.low_exclusive, max_exclusive=r.high_exclusive)))
        else:
            conditions.append(pb.Condition(key=c.key, exists=True))
    return pb.Filter(any_of=sorted(f.any_of), all_of=sorted(f.all_of),
                     none_of=sorted(f.none_of), conditions=conditions,
                     path_prefix=f.path_prefix, clusters=sorted(f.clusters or ()))
