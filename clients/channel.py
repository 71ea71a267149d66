"""Client settings and the gRPC channel they describe: TLS, bearer token, limits."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from lookalike.clients.retry import RetryPolicy
from lookalike.common.errors import InvalidArgument
from lookalike.common.fetch import FetchLimits

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 30.0
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
LOOPBACK_HOSTS = ("127.0.0.1", "[::1]", "localhost", "::1")


@dataclass(frozen=True)
class ClientConfig:
    """Everything a Client needs besides its target.

    Attributes:
        timeout_s: the default deadline of every call, per attempt (for a stream: the
            longest wait for the next answer while rows are in flight).
        retry: backoff for idempotent calls that fail with UNAVAILABLE.
        token: a bearer token, sent as `authorization: Bearer <token>` metadata.
        tls: use TLS; implied by root_certificates.
        root_certificates: PEM bytes to trust instead of the system roots.
        tls_server_name: the name to check the server certificate against, when it
            differs from the target's host (e.g. an IP target, a test certificate).
        downsize: decode images client-side with the server's own decoder and send the
            model-size result as lossless PNG; answers are identical, traffic is smaller.
        fetch: limits for URLs the SDK downloads itself.
    """

    timeout_s: float = DEFAULT_TIMEOUT_S
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    token: str | None = None
    tls: bool = False
    root_certificates: bytes | None = None
    tls_server_name: str | None = None
    downsize: bool = True
    fetch: FetchLimits = field(default_factory=FetchLimits)
    max_message_bytes: int = MAX_MESSAGE_BYTES

    @property
    def secure(self) -> bool:
        return self.tls or self.root_certificates is not None

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """The metadata sent with every call."""
        return (("authorization", f"Bearer {self.token}"),) if self.token else ()


def make_config(
    *, timeout: float = DEFAULT_TIMEOUT_S, token: str | None = None, tls: bool = False,
    root_certificates: bytes | str | Path | None = None, tls_server_name: str | None = None,
    retry: RetryPolicy | None = None, downsize: bool = True,
    fetch: FetchLimits | None = None,
) -> ClientConfig:
    """A ClientConfig from the keyword arguments Client and AsyncClient accept.

    root_certificates may be PEM bytes or the path of a PEM file.

    Raises:
        InvalidArgument: a bad timeout or token, or an unreadable certificate file.
    """
    if timeout <= 0:
        raise InvalidArgument(f"timeout must be more than 0 seconds, got {timeout}")
    if token is not None and (not token or any(c in token for c in "\r\n")):
        raise InvalidArgument("the token must be a non-empty string without line breaks")
    if isinstance(root_certificates, (str, Path)):
        try:
            root_certificates = Path(root_certificates).read_bytes()
        except OSError as exc:
            raise InvalidArgument(
                f"cannot read root certificates {root_certificates}: {exc.strerror}") from None
    return ClientConfig(
        timeout_s=timeout, retry=retry or RetryPolicy(), token=token, tls=tls,
        root_certificates=root_certificates, tls_server_name=tls_server_name,
        downsize=downsize, fetch=fetch or FetchLimits(),
    )


def channel_options(config: ClientConfig) -> list[tuple[str, Any]]:
    options: list[tuple[str, Any]] = [
        ("grpc.max_receive_message_length", config.max_message_bytes),
        ("grpc.max_send_message_length", config.max_message_bytes),
        # gRPC's own reconnect backoff starts at 1 s and grows to 120 s; keep it short
        # so a restarted server is found again within our retry policy's window.
        ("grpc.initial_reconnect_backoff_ms", 200),
        ("grpc.min_reconnect_backoff_ms", 200),
        ("grpc.max_reconnect_backoff_ms", int(config.retry.max_backoff_s * 1000)),
        # Each Client its own connection: grpc otherwise shares one among every channel of
        # a process to the same target, and a server of several worker processes
        # (`serve --processes N`) spreads connections, not calls, over its workers.
        ("grpc.use_local_subchannel_pool", 1),
    ]
    if config.tls_server_name:
        options.append(("grpc.ssl_target_name_override", config.tls_server_name))
    return options


def credentials(config: ClientConfig, target: str) -> grpc.ChannelCredentials | None:
    """TLS credentials, or None for a plaintext channel."""
    if config.secure:
        return grpc.ssl_channel_credentials(root_certificates=config.root_certificates)
    if config.token and not target.startswith(LOOPBACK_HOSTS):
        logger.warning("sending a bearer token to %s without TLS: anyone on the path can "
                       "read it; pass tls=True", target)
    return None


def open_channel(target: str, config: ClientConfig) -> grpc.Channel:
    creds = credentials(config, target)
    options = channel_options(config)
    if creds is None:
        return grpc.insecure_channel(target, options=options)
    return grpc.secure_channel(target, creds, options=options)


def open_aio_channel(target: str, config: ClientConfig) -> grpc.aio.Channel:
    creds = credentials(config, target)
    options = channel_options(config)
    if creds is None:
        return grpc.aio.insecure_channel(target, options=options)
    return grpc.aio.secure_channel(target, creds, options=options)
