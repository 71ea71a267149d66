"""The wire of labels, attributes, filters, browse, get and update: requests checked with the
server's own limits (lookalike.common.labels and .filters), answers checked against the
lookalike.v1 contract (a breach is BadAnswer)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from lookalike.clients.checks import checked, int32, text
from lookalike.clients.errors import BadAnswer
from lookalike.clients.filters import Equals, Exists, Filter, Range
from lookalike.clients.results import Attributes, Item, Neighbor, Page, Updated
from lookalike.common import filters as core
from lookalike.common.errors import InvalidArgument
from lookalike.common.labels import Change, Value, check_labels, check_payload
from lookalike.proto.convert import attributes_to, filter_to
from lookalike.proto.v1 import lookalike_pb2 as pb

MAX_PAGE = 1000  # items per browse page, as the server allows
MAX_GET = 1000  # ids per get


def _texts(values: Iterable[str] | str | None, what: str) -> list[str]:
    """A list of texts; one str is one text, not its characters."""
    if values is None:
        return []
    return [values] if isinstance(values, str) else list(values)


def checked_attributes(attributes: Mapping[str, object] | None, what: str
                       ) -> Mapping[str, Value]:
    """Attributes (key -> text or finite number) checked with the server's limits."""
    if attributes is None:
        return {}
    if not isinstance(attributes, Mapping):
        raise InvalidArgument(f"{what} must be a mapping of key to value, got "
                              f"{type(attributes).__name__}")
    return check_payload((), attributes.items(), what=f"{what}: ").attributes


def payload_fields(labels: Iterable[str] | str | None, attributes: Mapping[str, object] | None,
                   what: str) -> tuple[list[str], list[pb.Attribute]]:
    """An AddRequest's labels and attributes, checked; `what` names the image."""
    got = sorted(check_labels(_texts(labels, what), f"{what}: labels"))
    return got, attributes_to(checked_attributes(attributes, what))


def _condition(given: object, what: str) -> core.Condition:
    if isinstance(given, Equals):
        return core.Condition(given.key, equals=given.value)
    if isinstance(given, Exists):
        return core.Condition(given.key, exists=True)
    if isinstance(given, Range):
        try:
            low = -math.inf if given.min is None else float(given.min)
            high = math.inf if given.max is None else float(given.max)
        except (TypeError, ValueError):
            raise InvalidArgument(f"{what} ({given.key!r}): min and max must be numbers") from None
        return core.Condition(given.key, range=core.Range(
            low, high, bool(given.min_exclusive), bool(given.max_exclusive)))
    raise InvalidArgument(f"{what} must be Equals, Range or Exists, got {type(given).__name__}")


def checked_filter(f: Filter) -> core.Filter:
    """The SDK filter checked with the server's rules (the labels stripped)."""
    if not isinstance(f, Filter):
        raise InvalidArgument(f"filter must be a lookalike.clients.Filter, got "
                              f"{type(f).__name__}")
    conditions = [_condition(c, f"filter.attributes[{i}]")
                  for i, c in enumerate(f.attributes)]
    if f.path_prefix:
        text(f.path_prefix, "filter.path_prefix")
    clusters = None
    if f.clusters is not None:
        clusters = [int32(c, f"filter.clusters[{i}]") for i, c in enumerate(f.clusters)]
    return core.Filter.checked(_texts(f.any_labels, "any_labels"),
                               _texts(f.all_labels, "all_labels"),
                               _texts(f.none_labels, "none_labels"), conditions,
                               f.path_prefix, clusters)


def filter_message(f: Filter | None) -> pb.Filter | None:
    """The Filter message of an SDK filter, checked; None for no filter."""
    if f is None:
        return None
    return filter_to(checked_filter(f))


def browse_request(filter: Filter | None, page_size: int, page_token: str,
                   with_vectors: bool) -> pb.BrowseRequest:
    size = int32(page_size, "page_size")
    if not 1 <= size <= MAX_PAGE:
        raise InvalidArgument(f"page_size must be 1 to {MAX_PAGE}, got {size}")
    return pb.BrowseRequest(filter=filter_message(filter), page_size=size,
                            page_token=text(page_token, "page_token"),
                            with_vectors=bool(with_vectors))


def get_request(ids: Iterable[str], with_vectors: bool) -> pb.GetRequest:
    ids = _texts(ids, "ids")
    if len(ids) > MAX_GET:
        raise InvalidArgument(f"get takes at most {MAX_GET} ids, got {len(ids)}")
    return pb.GetRequest(ids=[text(id, f"id {n} of the get") for n, id in enumerate(ids)],
                         with_vectors=bool(with_vectors))


def update_request(*, ids: Iterable[str] | None, cluster: int | None, filter: Filter | None,
                   add_labels: Iterable[str] | str | None = None,
                   remove_labels: Iterable[str] | str | None = None,
                   set_attributes: Mapping[str, object] | None = None,
                   clear_attributes: Iterable[str] | str | None = None) -> pb.UpdateRequest:
    """The UpdateRequest for exactly one target, its change checked as the server will."""
    given = [n for n, v in (("ids", ids), ("cluster", cluster), ("filter", filter))
             if v is not None]
    if len(given) != 1:
        raise InvalidArgument(f"give exactly one of ids, cluster or filter (got "
                              f"{given or 'none'})")
    sets = checked_attributes(set_attributes, "set_attributes")
    change = Change.checked(_texts(add_labels, "add_labels"),
                            _texts(remove_labels, "remove_labels"), sets.items(),
                            _texts(clear_attributes, "clear_attributes"))
    request = pb.UpdateRequest(add_labels=sorted(change.add_labels),
                               remove_labels=sorted(change.remove_labels),
                               set_attributes=attributes_to(change.set_attributes),
                               clear_attributes=sorted(change.clear_attributes))
    if ids is not None:
        request.ids.ids.extend(text(id, f"id {n} of the update")
                               for n, id in enumerate(_texts(ids, "ids")))
    elif cluster is not None:
        request.cluster = int32(cluster, "cluster")
    else:
        request.filter.CopyFrom(filter_message(filter))
    return request


def name_cluster_request(cluster: int, name: str) -> pb.NameClusterRequest:
    from lookalike.common.labels import check_cluster_name

    return pb.NameClusterRequest(cluster=int32(cluster, "cluster"),
                                 name=check_cluster_name(text(name, "the cluster name")))


def _read_value(value: pb.Value, key: str) -> str | float:
    kind = value.WhichOneof("kind")
    if kind is None:
        raise BadAnswer(f"the server's attribute {key!r} has no value")
    return value.text if kind == "text" else value.number


def attributes_of(attrs: Iterable[pb.Attribute]) -> Attributes:
    """Answered attributes as a dict; a value of neither type or a key twice is BadAnswer."""
    got: Attributes = {}
    for a in attrs:
        if a.key in got:
            raise BadAnswer(f"the server answered attribute {a.key!r} twice")
        got[a.key] = _read_value(a.value, a.key)
    return got


def neighbor_of(n: pb.Neighbor) -> Neighbor:
    return Neighbor(n.id, n.path, n.distance, n.cluster, list(n.labels),
                    attributes_of(n.attributes), n.cluster_name)


def item_of(m: pb.Item) -> Item:
    if not m.id:
        raise BadAnswer("the server answered an item without an id")
    vector = list(m.vector.values) if m.HasField("vector") else None
    return Item(m.id, m.path, m.cluster, m.cluster_name, list(m.labels),
                attributes_of(m.attributes), vector)


def page_of(response: pb.BrowseResponse, asked: pb.BrowseRequest) -> Page:
    checked(response, "the server's browse answer")
    if len(response.items) > asked.page_size:
        raise BadAnswer(f"the server answered {len(response.items)} items for a page of "
                        f"{asked.page_size}")
    if response.next_page_token and response.next_page_token == asked.page_token:
        raise BadAnswer("the server answered the page token it was given: browsing would "
                        "never end")
    return Page([item_of(m) for m in response.items], response.next_page_token)


def count_of(response: pb.CountResponse) -> int:
    checked(response, "the server's count answer")
    if response.count < 0:
        raise BadAnswer(f"the server counted {response.count} images")
    return response.count


def got_of(response: pb.GetResponse, asked: pb.GetRequest) -> tuple[list[Item], list[str]]:
    """(the stored items, the missing ids); an id nobody asked for is BadAnswer."""
    checked(response, "the server's get answer")
    items = [item_of(m) for m in response.items]
    wanted = set(asked.ids)
    strays = [i.id for i in items if i.id not in wanted] + [
        m for m in response.missing if m not in wanted]
    if strays:
        raise BadAnswer(f"the server answered ids it was not asked for: {strays[:3]}")
    return items, list(response.missing)


def updated_of(response: pb.UpdateResponse) -> Updated:
    checked(response, "the server's update answer")
    if response.updated < 0:
        raise BadAnswer(f"the server updated {response.updated} images")
    return Updated(response.updated, list(response.missing))


def info_extras(r: Any) -> dict[str, Any]:
    """An InfoResponse's cluster names and label counts, checked."""
    names = {c.cluster: c.name for c in r.cluster_names}
    if len(names) != len(r.cluster_names):
        raise BadAnswer("the server's info names a cluster twice")
    counts = {c.label: c.count for c in r.label_counts}
    if len(counts) != len(r.label_counts) or any(c < 0 for c in counts.values()):
        raise BadAnswer("the server's info counts a label twice, or below zero")
    return {"cluster_names": names, "label_counts": counts}
