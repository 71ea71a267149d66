"""The asyncio Python SDK: api.py's methods, each step awaited."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from contextlib import closing
from typing import Any, TypeVar

from lookalike.clients.api import Api
from lookalike.clients.async_stream import TaskStream
from lookalike.clients.channel import open_aio_channel
from lookalike.clients.methods import Awaiting
from lookalike.clients.steps import AddStream, Call, Emits, Sleep, Step, Stepper, Steps, Work

logger = logging.getLogger(__name__)

T = TypeVar("T")


class AsyncClient(Awaiting, Api):
    """Talks to a lookalike server from asyncio code; see Client for the semantics.

    Example:
        async with AsyncClient("127.0.0.1:50051") as client:
            result = await client.search("photo.jpg", k=5)
            async for outcome in client.search_many(paths):
                ...
    """

    _open_channel = staticmethod(open_aio_channel)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Closes the channel; calls in progress fail."""
        await self._channel.close()

    async def _call(self, steps: Steps[T]) -> T:
        stepper = Stepper(steps)
        for step in stepper:
            await stepper.settle_async(self._do, step)
        return stepper.value  # type: ignore[return-value]

    async def _outcomes(self, steps: Emits[T]) -> AsyncGenerator[T, None]:
        with closing(TaskStream(self._rpcs["SearchStream"], self._metadata, self._do)) as pump:
            stepper = Stepper(steps)
            for step in stepper:
                await stepper.settle_async(pump.do, step)
                for outcome in stepper.drain():
                    yield outcome

    async def _do(self, step: Step) -> Any:
        if isinstance(step, Call):
            return await self._rpcs[step.rpc](step.request, timeout=step.timeout,
                                              metadata=self._metadata)
        if isinstance(step, AddStream):
            async for answer in self._rpcs["Add"](iter(step.requests), timeout=step.timeout,
                                                  metadata=self._metadata):
                step.on_answer(answer)
            return None
        if isinstance(step, Work):
            # File reads, URL fetches and decoding block: keep them off the event loop.
            return await asyncio.to_thread(step.fn, *step.args)
        if isinstance(step, Sleep):
            return await asyncio.sleep(step.seconds)
        raise TypeError(f"AsyncClient cannot do {step!r}")
