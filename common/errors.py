"""The one hierarchy of domain errors; the server maps them to gRPC codes, the SDK maps back."""

from __future__ import annotations

# The trailing-metadata key naming the error class, so the SDK raises the same class.
ERROR_KIND_KEY = "lookalike-error"


class LookalikeError(Exception):
    """Base of every error lookalike raises on purpose.

    `code` names the gRPC status code the server answers with.
    """

    code = "INTERNAL"


class InvalidArgument(LookalikeError):
    """The request itself is wrong: bad k, no query, wrong vector size."""

    code = "INVALID_ARGUMENT"


class InvalidImage(InvalidArgument):
    """Bytes that are empty, truncated, undecodable or of a refused format."""


class NotFound(LookalikeError):
    """An id, file or collection that does not exist."""

    code = "NOT_FOUND"


class AlreadyExists(LookalikeError):
    """An id that is already taken."""

    code = "ALREADY_EXISTS"


class ResourceExhausted(LookalikeError):
    """Too big or too many: message size, pixel count, concurrent calls."""

    code = "RESOURCE_EXHAUSTED"


class ImageTooLarge(ResourceExhausted):
    """An image whose pixel count is over the cap; refused before decoding its pixels."""


class StorageFull(ResourceExhausted):
    """The disk (or quota) holding a collection is full; the write was not stored."""


class Unavailable(LookalikeError):
    """The server is not reachable, not ready, or shutting down."""

    code = "UNAVAILABLE"


class CollectionLocked(Unavailable):
    """Another process (a running server, say) has the collection open for writing."""


class DeadlineExceeded(LookalikeError):
    """The call ran past its deadline."""

    code = "DEADLINE_EXCEEDED"


class Unauthenticated(LookalikeError):
    """No token, or a wrong one."""

    code = "UNAUTHENTICATED"


class PermissionDenied(LookalikeError):
    """A valid token without the scope the call needs."""

    code = "PERMISSION_DENIED"


class CollectionError(LookalikeError):
    """A collection on disk that is missing parts, corrupt, or unreadable."""

    code = "FAILED_PRECONDITION"


class CollectionMismatch(CollectionError):
    """A collection made with another model or format version."""


class NoMap(CollectionError):
    """A collection without a map yet (built before maps existed): `lookalike map DIR`."""


class TrainingError(LookalikeError):
    """Training input that cannot make a model (too few images, all identical)."""

    code = "FAILED_PRECONDITION"


def all_error_classes() -> dict[str, type[LookalikeError]]:
    """Every domain error class by name, for mapping errors back from the wire."""
    found: dict[str, type[LookalikeError]] = {}
    pending: list[type[LookalikeError]] = [LookalikeError]
    while pending:
        cls = pending.pop()
        found[cls.__name__] = cls
        pending.extend(cls.__subclasses__())
    return found
