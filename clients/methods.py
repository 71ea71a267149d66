"""One declaration per public method, seen by Client as blocking and by AsyncClient as awaited.

A method is written once in api.py as a generator of steps (steps.py). `@method` and
`@stream` turn it into a descriptor that gives each client class a real function with
the declared parameters, defaults and docstring: Client's returns the value (or is a
generator of outcomes), AsyncClient's is a coroutine (or an async generator). The
overloads give type checkers the same view.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from contextlib import aclosing
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from lookalike.clients.steps import Emits, Steps

P = ParamSpec("P")
T = TypeVar("T")
B = TypeVar("B")
A = TypeVar("A")


class Blocking:
    """Base of a client whose methods block: it runs steps to their value."""

    def _call(self, steps: Steps[T]) -> T:
        raise NotImplementedError

    def _outcomes(self, steps: Emits[T]) -> Iterator[T]:
        raise NotImplementedError


class Awaiting:
    """Base of a client whose methods are awaited."""

    async def _call(self, steps: Steps[T]) -> T:
        raise NotImplementedError

    def _outcomes(self, steps: Emits[T]) -> AsyncGenerator[T, None]:
        raise NotImplementedError


def _blocking(fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(self: Blocking, *args: Any, **kwargs: Any) -> Any:
        return self._call(fn(self, *args, **kwargs))
    return call


def _awaiting(fn: Callable[..., Any]) -> Callable[..., Any]:
    async def call(self: Awaiting, *args: Any, **kwargs: Any) -> Any:
        return await self._call(fn(self, *args, **kwargs))
    return call


def _blocking_stream(fn: Callable[..., Any]) -> Callable[..., Any]:
    def stream(self: Blocking, *args: Any, **kwargs: Any) -> Iterator[Any]:
        yield from self._outcomes(fn(self, *args, **kwargs))
    return stream


def _awaiting_stream(fn: Callable[..., Any]) -> Callable[..., Any]:
    async def stream(self: Awaiting, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        async with aclosing(self._outcomes(fn(self, *args, **kwargs))) as outcomes:
            async for outcome in outcomes:
                yield outcome
    return stream


def public_signature(fn: Callable[..., Any], returns: str) -> inspect.Signature:
    """fn's signature with the return annotation a caller sees instead of the generator's.

    `returns` is a format string for the declared result type: "{}" for a method's
    value, "Iterator[{}]" or "AsyncIterator[{}]" for a stream's outcomes.
    """
    signature = inspect.signature(fn)
    declared = str(signature.return_annotation)  # "Steps[X]" or "Emits[X]"
    assert declared.startswith(("Steps[", "Emits[")) and declared.endswith("]"), declared
    return signature.replace(return_annotation=returns.format(declared[6:-1]))


class Declared(Generic[P, B, A]):
    """A declared method: on a Blocking class its function returns B, on an Awaiting
    class A. On Api itself it is the declaration, whose `steps` is the generator."""

    def __init__(
        self, steps: Callable[..., Any],
        wrappers: tuple[Callable[..., Any], Callable[..., Any]], returns: tuple[str, str],
    ) -> None:
        self.steps, self.name = steps, steps.__name__
        self._wrappers, self._returns = wrappers, returns  # (blocking, awaiting)
        self._made: dict[type, Callable[..., Any]] = {}

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def function(self, owner: type) -> Callable[..., Any]:
        """The function this method is on owner, made once."""
        if owner not in self._made:
            awaiting = issubclass(owner, Awaiting)
            made: Any = self._wrappers[awaiting](self.steps)
            made.__signature__ = public_signature(self.steps, self._returns[awaiting])
            made.__annotations__ = {**self.steps.__annotations__,
                                    "return": made.__signature__.return_annotation}
            made.__name__, made.__qualname__ = self.name, f"{owner.__qualname__}.{self.name}"
            made.__doc__, made.__module__ = self.steps.__doc__, owner.__module__
            made.__wrapped__ = self.steps
            self._made[owner] = made
        return self._made[owner]

    @overload
    def __get__(self, obj: Blocking, owner: type | None = None) -> Callable[P, B]: ...
    @overload
    def __get__(self, obj: Awaiting, owner: type | None = None) -> Callable[P, A]: ...
    @overload
    def __get__(self, obj: None, owner: type) -> Any: ...
    def __get__(self, obj: object, owner: type | None = None) -> Any:
        owner = owner if owner is not None else type(obj)
        if not issubclass(owner, (Blocking, Awaiting)):
            return self
        made = self.function(owner)
        return made if obj is None else made.__get__(obj, owner)


def method(fn: Callable[Concatenate[Any, P], Steps[T]]) -> Declared[P, T, Awaitable[T]]:
    """A public method: Client's returns its value, AsyncClient's is awaited."""
    return Declared(fn, (_blocking, _awaiting), ("{}", "{}"))


def stream(fn: Callable[Concatenate[Any, P], Emits[T]]
           ) -> Declared[P, Iterator[T], AsyncIterator[T]]:
    """A public streaming method: Client's is an iterator, AsyncClient's an async one."""
    return Declared(fn, (_blocking_stream, _awaiting_stream),
                    ("Iterator[{}]", "AsyncIterator[{}]"))
