"""Where a collection's images live in Milvus (`milvus://HOST:PORT/NAME`), and Milvus's errors
as lookalike's: unreachable or failing Milvus as Unavailable (the SDK retries it), a refused
request as InvalidArgument, a collection that is gone (an old clustering generation dropped
by a recluster) as GenerationGone."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from lookalike.common.errors import InvalidArgument, LookalikeError, Unavailable

SCHEME = "milvus"
CONSISTENCY = {"strong": "Strong", "bounded": "Bounded", "session": "Session"}
GONE_CODE = 100  # Milvus 2.3's "collection not found"


class GenerationGone(Unavailable):
    """The Milvus collection asked for no longer exists: a recluster switched to a new one."""


@dataclass(frozen=True)
class MilvusAddress:
    """Where a collection's images live: `milvus://HOST:PORT/NAME[?consistency=strong]`.

    `milvus+tls://` connects over TLS. The token is never part of the address (it would be
    written into the collection folder): it comes from a flag or $LOOKALIKE_MILVUS_TOKEN.
    """

    uri: str  # what pymilvus connects to: http(s)://HOST:PORT
    name: str
    consistency: str = "Strong"

    @classmethod
    def parse(cls, text: str) -> MilvusAddress:
        parts = urlsplit(text)
        if parts.scheme not in (SCHEME, SCHEME + "+tls"):
            raise InvalidArgument(f"{text!r} is not a Milvus address: use milvus://HOST:PORT/NAME")
        name = parts.path.strip("/")
        if not parts.hostname or not name:
            raise InvalidArgument(f"{text!r} needs a host and a collection name: "
                                  "milvus://HOST:PORT/NAME")
        if parts.username or parts.password:
            raise InvalidArgument("put the Milvus token in $LOOKALIKE_MILVUS_TOKEN or "
                                  "--milvus-token, not in the address (it is saved on disk)")
        if not (name[0].isalpha() or name[0] == "_") or not all(
                c.isalnum() or c == "_" for c in name) or len(name) > 255:
            raise InvalidArgument(f"Milvus collection names are letters, digits and '_', "
                                  f"starting with a letter: {name!r}")
        query = parse_qs(parts.query)
        level = query.pop("consistency", ["strong"])[-1].lower()
        if level not in CONSISTENCY or query:
            raise InvalidArgument(f"unknown option in {text!r}: the one option is "
                                  f"consistency={'|'.join(CONSISTENCY)}")
        scheme = "https" if parts.scheme.endswith("+tls") else "http"
        port = parts.port or 19530
        return cls(f"{scheme}://{parts.hostname}:{port}", name, CONSISTENCY[level])

    def __str__(self) -> str:
        scheme = SCHEME + ("+tls" if self.uri.startswith("https") else "")
        level = "" if self.consistency == "Strong" else f"?consistency={self.consistency.lower()}"
        return f"{scheme}://{self.uri.split('://', 1)[1]}/{self.name}{level}"


@contextmanager
def milvus_errors(address: MilvusAddress) -> Iterator[None]:
    """Turns pymilvus's and the network's errors into lookalike's."""
    from pymilvus.exceptions import MilvusException, ParamError

    try:
        yield
    except LookalikeError:
        raise
    except ParamError as exc:
        raise InvalidArgument(f"Milvus refused the request: {exc.message}") from None
    except MilvusException as exc:
        if exc.code == GONE_CODE or "collection not found" in str(exc.message):
            raise GenerationGone(f"Milvus at {address.uri} has no such collection: "
                                 f"{exc.message}") from None
        raise Unavailable(f"Milvus at {address.uri} failed: {exc.message} "
                          f"(code {exc.code})") from None
    except (OSError, TimeoutError) as exc:
        raise Unavailable(f"Milvus at {address.uri} is unreachable: {exc}") from None
