"""Parsing request bytes inside the call, so malformed ones are INVALID_ARGUMENT like any bad input.

grpcio parses a request before any handler runs: bytes that are not the method's message
(or a string field that is not UTF-8) ended as INTERNAL with an ERROR traceback from grpcio,
and never reached the call log or the metrics. Here every handler takes raw bytes and
parses them itself, in the call, where a failure is mapped by server/errors.py and CallLog
sees the status.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import grpc

from lookalike.common.errors import InvalidArgument
from lookalike.server.errors import abort
from lookalike.server.handlers import MAKERS, inner_behavior

Parse = Callable[[bytes], Any]


def parse_one(parse: Parse, data: bytes, method: str) -> Any:
    """The parsed message, or InvalidArgument saying why the bytes are not one."""
    try:
        return parse(data)
    except Exception as exc:  # noqa: BLE001 - a parse failure is always the bytes' fault
        name = method.rsplit("/", 1)[-1] or method
        raise InvalidArgument(f"the request is not a valid {name} message: {exc}") from None


class ParsedStream:
    """Parses a request stream item by item; remembers the failure that ended it, if any.

    A servicer may swallow the error (a reader thread that ends the stream quietly), so the
    wrapper below checks `error` once the servicer is done.
    """

    def __init__(self, raw: Iterator[bytes], parse: Parse, method: str) -> None:
        self._raw = raw
        self._parse = parse
        self._method = method
        self.error: InvalidArgument | None = None

    def __iter__(self) -> ParsedStream:
        return self

    def __next__(self) -> Any:
        if self.error is not None:
            raise self.error
        data = next(self._raw)
        try:
            return parse_one(self._parse, data, self._method)
        except InvalidArgument as exc:
            self.error = exc
            raise


class ParseRequests(grpc.ServerInterceptor):
    """Makes every handler take raw bytes and parse them in the call (the innermost step).

    Handlers made by outer interceptors copy this one's (absent) request deserializer.
    """

    def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], Any],
        details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = continuation(details)
        if handler is None or handler.request_deserializer is None:
            return handler
        parse, inner, method = handler.request_deserializer, inner_behavior(handler), details.method
        if handler.request_streaming:
            behavior = _streaming_requests(inner, parse, method, handler.response_streaming)
        else:
            def behavior(data: bytes, context: grpc.ServicerContext) -> Any:
                try:
                    request = parse_one(parse, data, method)
                except InvalidArgument as exc:
                    abort(context, exc)
                return inner(request, context)

        make = MAKERS[(handler.request_streaming, handler.response_streaming)]
        return make(behavior, request_deserializer=None,
                    response_serializer=handler.response_serializer)


@contextmanager
def _parse_errors_abort(requests: ParsedStream, context: grpc.ServicerContext) -> Iterator[None]:
    """Ends the call INVALID_ARGUMENT if a row failed to parse, whether or not the handler
    noticed (a reader thread may have swallowed the error)."""
    try:
        yield
    except Exception:
        if requests.error is not None:
            abort(context, requests.error)
        raise
    if requests.error is not None:
        abort(context, requests.error)


def _streaming_requests(inner: Callable[..., Any], parse: Parse, method: str,
                        response_streaming: bool) -> Callable[..., Any]:
    """A behavior feeding inner a ParsedStream, ending the call INVALID_ARGUMENT on bad bytes."""

    def unary_response(raw: Iterator[bytes], context: grpc.ServicerContext) -> Any:
        requests = ParsedStream(raw, parse, method)
        with _parse_errors_abort(requests, context):
            return inner(requests, context)

    def streaming_response(raw: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[Any]:
        requests = ParsedStream(raw, parse, method)
        with _parse_errors_abort(requests, context):
            yield from inner(requests, context)

    return streaming_response if response_streaming else unary_response
