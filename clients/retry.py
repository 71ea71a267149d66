"""Retrying idempotent calls with exponential backoff while the server is UNAVAILABLE."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass

import grpc

from lookalike.clients.errors import from_rpc_error
from lookalike.common.errors import Unavailable

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying a call that failed with UNAVAILABLE.

    Only UNAVAILABLE is retried: it means the call did not reach a serving server
    (refused connection, restart, shutdown), so trying again later can succeed. Every
    other status is an answer and is raised at once.

    Attributes:
        attempts: tries in all, the first included; 1 turns retrying off.
        initial_backoff_s: the wait before the second try.
        max_backoff_s: the longest wait between two tries.
        multiplier: how much each wait grows.
        jitter: a random share (+/-) added to each wait so clients do not retry in step.
    """

    attempts: int = 5
    initial_backoff_s: float = 0.2
    max_backoff_s: float = 5.0
    multiplier: float = 2.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}")

    def delays(self) -> Iterator[float]:
        """The waits before the second, third, ... tries (attempts - 1 of them)."""
        backoff = self.initial_backoff_s
        for _ in range(self.attempts - 1):
            spread = backoff * self.jitter
            yield max(0.0, backoff + random.uniform(-spread, spread))
            backoff = min(self.max_backoff_s, backoff * self.multiplier)


NO_RETRY = RetryPolicy(attempts=1)


def is_retryable(err: grpc.RpcError) -> bool:
    return hasattr(err, "code") and err.code() == grpc.StatusCode.UNAVAILABLE


def stream_lost(err: grpc.RpcError) -> bool:
    """UNAVAILABLE, or a write that failed locally because the connection just broke:
    grpc.aio reports that as INTERNAL until the real status arrives."""
    return is_retryable(err) or (
        isinstance(err, grpc.aio.AioRpcError) and err.code() == grpc.StatusCode.INTERNAL
        and err.details() == "Internal error from Core")


def retry_delay(
    err: grpc.RpcError, delays: Iterator[float], *, retryable: bool, target: str, what: str,
) -> float:
    """The wait before trying again after err: the next of delays.

    Raises:
        LookalikeError: err's domain exception, when err is not retryable or delays
            are spent.
    """
    delay = next(delays, None) if retryable else None
    if delay is None:
        if stream_lost(err) and not is_retryable(err):  # what the real status will say
            raise Unavailable(f"{target}: the connection broke during {what}") from None
        raise from_rpc_error(err, target) from None
    logger.info("%s to %s failed (%s), trying again in %.2fs", what, target,
                err.code().name if hasattr(err, "code") else err, delay)
    return delay
