"""The one place errors become HTTP answers: a JSON {"error", "kind"} the page shows, never a
traceback."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from lookalike.common.errors import LookalikeError

logger = logging.getLogger(__name__)

# The server's gRPC code (LookalikeError.code) -> the web app's HTTP status. A refusal of the
# app's own token by the server is the app's misconfiguration, so it is a 502, not a 401
# that would make a browser ask the user for a password.
STATUS_OF_CODE = {
    "INVALID_ARGUMENT": 400,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "FAILED_PRECONDITION": 409,
    "RESOURCE_EXHAUSTED": 413,
    "UNAUTHENTICATED": 502,
    "PERMISSION_DENIED": 502,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}


class HttpError(Exception):
    """A refusal by the web app itself (bad JSON, too large, cross-site): status + message."""

    def __init__(self, status: int, message: str, kind: str = "BadRequest") -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind


def error_response(status: int, message: str, kind: str) -> JSONResponse:
    return JSONResponse({"error": message, "kind": kind}, status_code=status,
                        headers={"Cache-Control": "no-store"})


async def on_lookalike_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LookalikeError)
    status = STATUS_OF_CODE.get(exc.code, 502)
    message = str(exc) or type(exc).__name__
    if exc.code in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
        message = (f"the lookalike server refused the web app's token ({message}); start "
                   "`lookalike ui` with --token (or $LOOKALIKE_TOKEN) set to a write token")
    return error_response(status, message, type(exc).__name__)


async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HttpError)
    return error_response(exc.status, str(exc), exc.kind)


async def on_starlette_error(request: Request, exc: Exception) -> JSONResponse:
    """No such route (an id with a line break does not match /thumb/<id>), wrong method."""
    assert isinstance(exc, StarletteHTTPException)
    return error_response(exc.status_code, f"{exc.detail}: {request.method} "
                          f"{request.url.path[:200]!r}", "NotFound" if exc.status_code == 404
                          else "BadRequest")


async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("web app error on %s %s", request.method, request.url.path)
    return error_response(500, f"the web app failed on this request ({type(exc).__name__}); "
                          "its log has the details", "Internal")
