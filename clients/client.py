"""The synchronous Python SDK: api.py's methods, each step done by blocking."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import closing
from typing import Any, TypeVar

from lookalike.clients.api import Api
from lookalike.clients.channel import open_channel
from lookalike.clients.messages import search_request
from lookalike.clients.methods import Blocking
from lookalike.clients.steps import AddStream, Call, Emits, Sleep, Step, Stepper, Steps, Work
from lookalike.clients.sync_stream import ThreadedStream

logger = logging.getLogger(__name__)

__all__ = ["Client", "search_request"]

T = TypeVar("T")


class Client(Blocking, Api):
    """Talks to a lookalike server.

    Every call has a deadline (`timeout`, 30 s by default). search, search_many, info,
    health and delete are retried with backoff while the server is UNAVAILABLE; add
    only when every image has an id (see `add`).

    Example:
        with Client("127.0.0.1:50051") as client:
            for n in client.search("photo.jpg", k=5).neighbors:
                print(n.id, n.path, n.distance)

        Client("search.example.com:443", tls=True, token="s3cret")
    """

    _open_channel = staticmethod(open_channel)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Closes the channel; calls in progress fail."""
        self._channel.close()

    def _call(self, steps: Steps[T]) -> T:
        stepper = Stepper(steps)
        for step in stepper:
            stepper.settle(self._do, step)
        return stepper.value  # type: ignore[return-value]

    def _outcomes(self, steps: Emits[T]) -> Iterator[T]:
        with closing(ThreadedStream(self._rpcs["SearchStream"], self._metadata,
                                    self._do)) as pump:
            stepper = Stepper(steps, guard=pump.lock)
            for step in stepper:
                stepper.settle(pump.do, step)
                yield from stepper.drain()

    def _do(self, step: Step) -> Any:
        if isinstance(step, Call):
            return self._rpcs[step.rpc](step.request, timeout=step.timeout,
                                        metadata=self._metadata)
        if isinstance(step, AddStream):
            answers = self._rpcs["Add"](iter(step.requests), timeout=step.timeout,
                                        metadata=self._metadata)
            for answer in answers:
                step.on_answer(answer)
            return None
        if isinstance(step, Work):
            return step.fn(*step.args)
        if isinstance(step, Sleep):
            return time.sleep(step.seconds)
        raise TypeError(f"Client cannot do {step!r}")
