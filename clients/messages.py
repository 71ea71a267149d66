"""Building the wire messages the SDK sends, shared by Client and AsyncClient."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lookalike.common.errors import InvalidArgument
from lookalike.proto.v1 import lookalike_pb2 as pb


def check_query(image: Any, id: str | None, vector: Sequence[float] | None) -> None:
    """Raises InvalidArgument unless exactly one of image, id or vector is given."""
    given = [name for name, v in (("image", image), ("id", id), ("vector", vector))
             if v is not None]
    if len(given) != 1:
        raise InvalidArgument(f"give exactly one of image, id or vector (got {given or 'none'})")


def search_request(
    data: bytes | None = None, *, id: str | None = None,
    vector: Sequence[float] | None = None, k: int = 10, nprobe: int | None = None,
) -> pb.SearchRequest:
    """The SearchRequest for exactly one of encoded image bytes, id or vector."""
    check_query(data, id, vector)
    request = pb.SearchRequest(k=k, nprobe=nprobe or 0)
    if id is not None:
        request.id = id
    elif vector is not None:
        request.vector.values.extend(np.asarray(vector, np.float32).ravel().tolist())
    else:
        request.image = data
    return request


def add_plan(
    images: Sequence[Any], ids: Sequence[str | None] | None, paths: Sequence[str] | None,
) -> tuple[list[str | None], list[str]]:
    """The id and path to store for each image; a path defaults to a str image itself.

    Raises:
        InvalidArgument: ids or paths whose length differs from images.
    """
    ids = list(ids) if ids is not None else [None] * len(images)
    paths = list(paths) if paths is not None else [
        str(i) if isinstance(i, str) else "" for i in images]
    for name, values in (("ids", ids), ("paths", paths)):
        if len(values) != len(images):
            raise InvalidArgument(f"got {len(images)} images but {len(values)} {name}")
    return ids, paths


def add_is_idempotent(ids: Sequence[str | None]) -> bool:
    """Whether an Add can be sent again safely: only when every image has its own id,
    so a repeat is refused as AlreadyExists instead of storing a second copy."""
    return all(ids)
