"""The I/O steps an SDK method asks for, and the stepper that feeds it their results.

Every public method is written once (api.py) as a generator that yields these steps
and receives each one's result (or has its exception thrown in). Client does a step
by blocking, AsyncClient by awaiting; neither decides anything else.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, TypeVar

from lookalike.clients.prefetch import Prepared
from lookalike.clients.window import Window
from lookalike.proto.v1 import lookalike_pb2 as pb

T = TypeVar("T")


@dataclass(frozen=True)
class Call:
    """A unary RPC (an entry of Api._rpcs); its result is the response."""

    rpc: str
    request: Any
    timeout: float


@dataclass(frozen=True)
class AddStream:
    """The Add stream: every request sent, every answer handed to on_answer on arrival."""

    requests: list[pb.AddRequest]
    timeout: float
    on_answer: Callable[[pb.AddResponse], None]


@dataclass(frozen=True)
class Work:
    """Blocking work (file reads, URL fetches, decoding); AsyncClient runs it in a thread."""

    fn: Callable[..., Any]
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Sleep:
    """Waits before trying again (a backoff)."""

    seconds: float


@dataclass(frozen=True)
class Feed:
    """Starts reading images into window: each row prepared by prepare(row, image) in
    one of `workers` threads, no further ahead than the window allows."""

    window: Window
    images: Any
    prepare: Callable[[int, Any], Prepared]
    workers: int


@dataclass(frozen=True)
class Open:
    """Opens SearchStream for this attempt, with a writer sending the window's rows."""

    attempt: int


class Receive:
    """The stream's next answer, or None once the server has ended it. Raises the
    window's stalled() error, or the input's own error, instead when that comes first."""

    __slots__ = ()


@dataclass(frozen=True)
class Emit(Generic[T]):
    """Hands one outcome to the caller of a streaming method."""

    outcome: T


Step = Call | AddStream | Work | Sleep | Feed | Open | Receive
Steps = Generator[Step, Any, T]
"""A method's generator: yields steps, returns the method's value."""
Emits = Generator[Step | Emit[T], Any, None]
"""A streaming method's generator: yields steps, among them Emit of each outcome."""


class Pump:
    """Does a streaming method's steps (Feed, Open, Receive) for one call; the rest go
    to `fallback`, the client's own. Client's pump blocks, AsyncClient's returns
    awaitables."""

    def __init__(self, open_call: Callable[..., Any], metadata: Any,
                 fallback: Callable[[Step], Any]) -> None:
        self._open_call = partial(open_call, metadata=metadata)
        self._fallback = fallback
        self._window: Window | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._call: Any = None

    def do(self, step: Step) -> Any:
        if isinstance(step, Feed):
            return self.feed(step)
        if isinstance(step, Open):
            return self.open(step.attempt)
        if isinstance(step, Receive):
            return self.receive()
        return self._fallback(step)

    def feed(self, step: Feed) -> Any:
        raise NotImplementedError

    def open(self, attempt: int) -> Any:
        raise NotImplementedError

    def receive(self) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        """Stops the feeder and writer, and cancels the call: the caller may stop early."""
        raise NotImplementedError


class Stepper(Generic[T]):
    """Iterates a method's steps, sending each the result of the one before (or
    throwing in its error). Emitted outcomes wait in `drain()`; the method's return
    value ends up in `value`. `guard` (Client's stream lock) is held while the method
    runs between two steps."""

    def __init__(self, steps: Generator[Any, Any, T],
                 guard: AbstractContextManager[Any] | None = None) -> None:
        self._steps = steps
        self._guard = guard or nullcontext()
        self._reply: Any = None
        self._error: BaseException | None = None
        self._emitted: deque[Any] = deque()
        self.value: T | None = None

    def __iter__(self) -> Stepper[T]:
        return self

    def __next__(self) -> Step | Emit[Any]:
        reply, error = self._reply, self._error
        self._reply = self._error = None
        try:
            with self._guard:
                return self._steps.send(reply) if error is None else self._steps.throw(error)
        except StopIteration as stop:
            self.value = stop.value
            raise StopIteration from None

    def _emit(self, step: Step | Emit[Any]) -> bool:
        if isinstance(step, Emit):
            self._emitted.append(step.outcome)
        return isinstance(step, Emit)

    def drain(self) -> Iterator[Any]:
        """The outcomes emitted since the last drain."""
        while self._emitted:
            yield self._emitted.popleft()

    def settle(self, do: Callable[[Any], Any], step: Step | Emit[Any]) -> None:
        """Does step (or keeps an Emit's outcome); the result or the exception goes to
        the method next."""
        if self._emit(step):
            return
        try:
            self._reply = do(step)
        except Exception as exc:  # noqa: BLE001 - the method decides, at its yield
            self._error = exc

    async def settle_async(self, do: Callable[[Any], Awaitable[Any]],
                           step: Step | Emit[Any]) -> None:
        """settle for a step done by awaiting."""
        if self._emit(step):
            return
        try:
            self._reply = await do(step)
        except Exception as exc:  # noqa: BLE001
            self._error = exc
