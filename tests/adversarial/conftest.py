"""Adversarial fixtures: a client of each kind connected to a scripted hostile server."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from lookalike.clients import AsyncClient, Client
from lookalike.clients.retry import NO_RETRY

from ..clients.conftest import Caller
from .hostile_server import HostileServer, Script


@pytest.fixture(params=[Client, AsyncClient], ids=["Client", "AsyncClient"])
def hostile(request: pytest.FixtureRequest) -> Iterator[Callable[..., Caller]]:
    """Starts a HostileServer with a script and connects a client of one kind to it."""
    made: list[tuple[HostileServer, Caller]] = []

    def start(script: Script) -> Caller:
        server = HostileServer(script)
        made.append((server, Caller(request.param, server.target, retry=NO_RETRY,
                                    timeout=10)))
        return made[-1][1]

    yield start
    for server, caller in made:
        caller.close()
        server.stop()
