"""The wire, both ways: the requests the SDK sends and the answers it reads, each checked.

Text the caller gives must be UTF-8 that protobuf can carry (no lone surrogates), and is
refused here with an error naming it, before anything is sent. A server may be old,
broken or not ours: every answer is checked against the lookalike.v1 contract, and one
that breaks it becomes BadAnswer (for the call, or for the one row it concerns), never a
bare Python exception. Free of I/O: Client and AsyncClient share it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from grpc_health.v1 import health_pb2

from lookalike.clients.checks import checked, int32, parsed, shown, text, wrong_types
from lookalike.clients.duplicates import calibration_of
from lookalike.clients.errors import BadAnswer, from_row_error
from lookalike.clients.label_messages import info_extras, neighbor_of, payload_fields
from lookalike.clients.prefetch import Prepared, prepare_row
from lookalike.clients.results import Added, CollectionInfo, SearchResult
from lookalike.common.errors import InvalidArgument, LookalikeError
from lookalike.common.fetch import FetchLimits
from lookalike.common.paths import stored_path
from lookalike.proto.v1 import lookalike_pb2 as pb

logger = logging.getLogger(__name__)

def check_query(image: Any, id: str | None, vector: Sequence[float] | None) -> None:
    """Raises InvalidArgument unless exactly one of image, id or vector is given."""
    given = [name for name, v in (("image", image), ("id", id), ("vector", vector))
             if v is not None]
    if len(given) != 1:
        raise InvalidArgument(f"give exactly one of image, id or vector (got {given or 'none'})")


def search_request(
    data: bytes | None = None, *, id: str | None = None,
    vector: Sequence[float] | None = None, k: int = 10, nprobe: int | None = None,
    filter: pb.Filter | None = None,
) -> pb.SearchRequest:
    """The SearchRequest for exactly one of encoded image bytes, id or vector; `filter` is
    already checked (label_messages.filter_message)."""
    check_query(data, id, vector)
    request = pb.SearchRequest(k=int32(k, "k"), nprobe=int32(nprobe or 0, "nprobe"),
                               filter=filter)
    if id is not None:
        request.id = text(id, "the id")
    elif vector is not None:
        request.vector.values.extend(np.asarray(vector, np.float32).ravel().tolist())
    else:
        request.image = data
    return request


def delete_request(ids: Iterable[str]) -> pb.DeleteRequest:
    ids = list(ids)
    for n, id in enumerate(ids):
        text(id, f"id {n} of the delete")
    return pb.DeleteRequest(ids=ids)


def delete_result(response: pb.DeleteResponse) -> tuple[int, list[str]]:
    checked(response, "the server's delete answer")
    return response.deleted, list(response.missing)


def search_result(response: pb.SearchResponse, query: object = None) -> SearchResult:
    checked(response, "the server's search answer")
    return SearchResult(
        cluster=response.cluster, neighbors=[neighbor_of(n) for n in response.neighbors],
        query=query, cluster_name=response.cluster_name)


def row_outcome(prepared: Prepared, response: pb.SearchStreamResponse
                ) -> SearchResult | LookalikeError:
    """search_many's answer for one row: its local error, the server's, or the result."""
    if prepared.error is not None:
        return prepared.error
    if response.HasField("error"):
        return from_row_error(response.error)
    if not response.HasField("response"):
        return BadAnswer(f"the server's answer for row {prepared.row} holds neither a result "
                         "nor an error")
    try:
        return search_result(response.response, query=prepared.query)
    except BadAnswer as exc:
        return exc


def collection_info(r: pb.InfoResponse) -> CollectionInfo:
    checked(r, "the server's info answer")
    return CollectionInfo(
        r.model_fingerprint, r.model_config_json, r.embedding_dim, r.input_size, r.count,
        r.clusters, list(r.cluster_sizes), r.default_nprobe, r.format_version,
        r.software_version, r.imbalance, r.base_model, r.store, **info_extras(r),
        **calibration_of(r))


def input_size(info: CollectionInfo) -> int | None:
    """The side to downsize images to, or None when the server does not say (an old one)."""
    if info.input_size == 0:
        return None
    if not 0 < info.input_size <= 65_536:
        raise BadAnswer(f"the server gives an input size of {info.input_size} pixels")
    return info.input_size


def serving_status(response: Any) -> str:
    """The health answer's status name: "SERVING", "NOT_SERVING", ..."""
    try:
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    except ValueError:
        raise BadAnswer(f"the server's health status {response.status} is not one the "
                        "health protocol defines") from None


def prepare_all(images: list[Any], size: int | None, limits: FetchLimits) -> list[Prepared]:
    """Every image read and downsized, or its error; blocking."""
    return [prepare_row(n, image, size, limits) for n, image in enumerate(images)]


def default_path(image: Any, n: int) -> str:
    """The path stored for image n when the caller gives none: a str image's own, as text
    the wire can carry (a non-UTF-8 file name as a file:// URI, common/paths.py)."""
    if not isinstance(image, str):
        return ""
    try:
        return stored_path(image)
    except InvalidArgument:
        text(image, f"the path of image {n}")  # says why, naming the image
        raise


class AddPlan:
    """One add call's rows: what to send, and each row's outcome as answers come.

    A row is answered once, by the answer whose tag is the row's number. A row the caller
    gave bad text for is refused here; a row answered twice, or with neither an id nor an
    error, or never answered, gets BadAnswer: the server broke the contract for it.
    """

    def __init__(self, images: Sequence[Any], ids: Iterable[str | None] | None,
                 paths: Iterable[str] | None, labels: Iterable[Any] | None = None,
                 attributes: Iterable[Any] | None = None) -> None:
        """Raises InvalidArgument when ids, paths, labels or attributes are not one per
        image. A bad label or attribute is that image's error."""
        count = len(images)
        self.ids = list(ids) if ids is not None else [None] * count
        given = list(paths) if paths is not None else None
        labels = list(labels) if labels is not None else None
        attributes = list(attributes) if attributes is not None else None
        for name, values in (("ids", self.ids), ("paths", given), ("labels", labels),
                             ("attributes", attributes)):
            if values is not None and len(values) != count:
                raise InvalidArgument(f"got {count} images but {len(values)} {name}")
        self.count = count
        self.outcomes: dict[int, Added | LookalikeError] = {}
        self.paths = [""] * count
        self.payloads: list[tuple[list[str], list[pb.Attribute]]] = [([], [])] * count
        for n, image in enumerate(images):
            try:
                if self.ids[n] is not None:
                    text(self.ids[n], f"the id of image {n}")
                self.paths[n] = (text(given[n], f"the path of image {n}") if given is not None
                                 else default_path(image, n))
                self.payloads[n] = payload_fields(labels[n] if labels else None,
                                                  attributes[n] if attributes else None,
                                                  f"image {n}")
            except InvalidArgument as exc:
                self.outcomes[n] = exc
        self._ready: list[Prepared] = []
        self._sent: dict[str, int] = {}  # this attempt's rows by tag

    @property
    def idempotent(self) -> bool:
        """Whether the Add can be sent again safely: only when every image has its own id,
        so a repeat is refused as AlreadyExists instead of storing a second copy."""
        return add_is_idempotent(self.ids)

    def prepared(self, ready: list[Prepared]) -> None:
        """Takes the images read and downsized; one that failed here is that row's error."""
        self._ready = ready
        for p in ready:
            if p.error is not None:
                self.outcomes.setdefault(p.row, p.error)

    def requests(self) -> list[pb.AddRequest]:
        """The next attempt's requests: every row not answered yet."""
        todo = [p for p in self._ready if p.row not in self.outcomes]
        self._sent = {str(p.row): p.row for p in todo}
        return [pb.AddRequest(tag=str(p.row), image=p.data, path=self.paths[p.row],
                              id=self.ids[p.row] or "", labels=self.payloads[p.row][0],
                              attributes=self.payloads[p.row][1]) for p in todo]

    def answer(self, item: pb.AddResponse, target: str) -> None:
        row = self._sent.get(parsed(item, target).tag)
        if row is None:  # the rows it may have meant are reported as unanswered
            logger.warning("ignored an Add answer with the unknown tag %s", shown(item.tag))
            return
        if row in self.outcomes:
            self.outcomes[row] = BadAnswer(f"the server answered image {row} twice")
        elif item.HasField("error"):
            self.outcomes[row] = from_row_error(item.error)
        elif wrong := wrong_types(item):
            self.outcomes[row] = BadAnswer(f"the server's answer for image {row} has fields "
                                           f"of the wrong type: {', '.join(sorted(wrong))}")
        elif not item.id:
            self.outcomes[row] = BadAnswer(
                f"the server's answer for image {row} holds neither an id nor an error")
        else:
            self.outcomes[row] = Added(item.id, item.cluster)

    def results(self) -> list[Added | LookalikeError]:
        """Every row's outcome, in order; a row the server never answered is BadAnswer."""
        return [self.outcomes.get(n) or BadAnswer(
            f"the server ended the Add stream without answering image {n}; it may or may "
            "not be stored") for n in range(self.count)]


def add_is_idempotent(ids: Sequence[str | None]) -> bool:
    """Whether an Add can be sent again safely: only when every image has its own id."""
    return all(ids)
