"""Filters, payloads and changes to and from their lookalike.v1 messages, checked on the way
in: the server's one reading of them, and the SDK's one writing of them."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from lookalike.common.errors import InvalidArgument
from lookalike.common.filters import EVERYTHING, Condition, Filter, Range
from lookalike.common.label_batch import Edit
from lookalike.common.labels import Change, Payload, Value, check_payload
from lookalike.indexer.interface import Item, Target
from lookalike.proto.convert import attributes_to
from lookalike.proto.v1 import lookalike_pb2 as pb


def value_from(msg: pb.Value, what: str) -> Value:
    kind = msg.WhichOneof("kind")
    if kind is None:
        raise InvalidArgument(f"{what} has no value: set text or number")
    return msg.text if kind == "text" else msg.number


def attributes_from(attrs: Iterable[pb.Attribute], what: str) -> list[tuple[str, Value]]:
    return [(a.key, value_from(a.value, f"{what}[{i}] ({a.key}) value"))
            for i, a in enumerate(attrs)]


def payload_from(labels: Iterable[str], attrs: Iterable[pb.Attribute], what: str = "") -> Payload:
    """A checked payload of an AddRequest (what: "row 3: ", for a per-row error)."""
    return check_payload(labels, attributes_from(attrs, f"{what}attributes"), what)


def condition_from(msg: pb.Condition, what: str) -> Condition:
    test = msg.WhichOneof("test")
    if test == "equals":
        return Condition(msg.key, equals=value_from(msg.equals, f"{what}.equals"))
    if test == "range":
        r = msg.range
        return Condition(msg.key, range=Range(
            r.min if r.HasField("min") else -math.inf, r.max if r.HasField("max") else math.inf,
            r.min_exclusive, r.max_exclusive))
    if test == "exists" and msg.exists:
        return Condition(msg.key, exists=True)
    # check_condition words the refusal: no test (exists false counts as none).
    return Condition(msg.key)


def filter_from(msg: pb.Filter) -> Filter:
    """The checked Filter of a message; an empty message matches everything."""
    f = Filter.checked(msg.any_of, msg.all_of, msg.none_of,
                       [condition_from(c, f"filter.conditions[{i}]")
                        for i, c in enumerate(msg.conditions)],
                       msg.path_prefix, list(msg.clusters) or None)
    return EVERYTHING if f.everything else f


def change_from(msg: pb.UpdateRequest) -> Change:
    return Change.checked(msg.add_labels, msg.remove_labels,
                          attributes_from(msg.set_attributes, "set_attributes"),
                          msg.clear_attributes)


def target_from(msg: pb.UpdateRequest) -> Target:
    which = msg.WhichOneof("target")
    if which == "ids":
        return Target(ids=tuple(msg.ids.ids))
    if which == "cluster":
        return Target(cluster=msg.cluster)
    if which == "filter":
        return Target(filter=filter_from(msg.filter))
    raise InvalidArgument("the update names no target: set ids, cluster or filter")


def batch_from(msg: pb.UpdateManyRequest) -> tuple[list[Edit], dict[int, str]]:
    """The edits and cluster names of an UpdateMany, each change checked (label_batch's
    check_batch checks the batch as a whole); a refusal names the edit."""
    edits = []
    for n, e in enumerate(msg.edits):
        try:
            change = Change.checked(e.add_labels, e.remove_labels,
                                    attributes_from(e.set_attributes, "set_attributes"),
                                    e.clear_attributes, e.replace_labels, e.replace_attributes)
        except InvalidArgument as exc:
            raise InvalidArgument(f"edits[{n}] (id {e.id[:80]!r}): {exc}") from None
        edits.append(Edit(e.id, change))
    names: dict[int, str] = {}
    for n, c in enumerate(msg.cluster_names):
        if c.cluster in names:
            raise InvalidArgument(f"cluster_names[{n}]: cluster {c.cluster} is named twice")
        names[c.cluster] = c.name
    return edits, names


def item_to(item: Item) -> pb.Item:
    row = item.row
    msg = pb.Item(id=row.id, path=row.path, cluster=row.cluster, cluster_name=item.cluster_name,
                  labels=sorted(item.payload.labels),
                  attributes=attributes_to(item.payload.attributes))
    if item.vector is not None:
        msg.vector.values.extend(np.asarray(item.vector, np.float32).tolist())
    return msg
