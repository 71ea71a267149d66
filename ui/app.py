"""The web app: create_app(config) -> a Starlette app whose pages and scripts come from the
package (ui/static) and whose every answer comes from the lookalike server through the SDK."""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from lookalike.clients.async_client import AsyncClient
from lookalike.common.errors import LookalikeError
from lookalike.ui import routes
from lookalike.ui.config import THUMB_SIZE, UiConfig
from lookalike.ui.errors import (
    HttpError,
    on_http_error,
    on_lookalike_error,
    on_starlette_error,
    on_unexpected,
)
from lookalike.ui.parse import whole
from lookalike.ui.security import Guard, host_names, new_csrf_token
from lookalike.ui.thumbs import Batcher, placeholder
from lookalike.ui.undo import UndoLog

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
CSRF_SLOT = "{{csrf}}"


async def index(request: Request) -> HTMLResponse:
    """The one page; it carries the CSRF token the scripts send back with every POST."""
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    return HTMLResponse(page.replace(CSRF_SLOT, request.app.state.csrf),
                        headers={"Cache-Control": "no-store"})


async def thumb(request: Request) -> Response:
    """/thumb/<id>?size=N: the stored image, small; a placeholder tile when its file is
    gone or unreadable; 404 for an id that is not stored."""
    id = request.path_params["id"]
    size = whole(request.query_params.get("size"), "size", 16, 512, default=THUMB_SIZE)
    found = await request.app.state.thumbs.get(id, size)
    if found.status == "ok":
        etag = '"' + hashlib.sha1(found.image).hexdigest()[:16] + '"'
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"ETag": etag})
        return Response(found.image, media_type=found.mime_type or "image/jpeg", headers={
            "Cache-Control": "private, max-age=3600", "ETag": etag,
            "X-Thumb-Status": "ok"})
    if found.status == "unknown_id":
        raise HttpError(404, f"no stored image has id {id[:200]!r}", "NotFound")
    # Not cached: the file may come back.
    return Response(placeholder(found.status, size), media_type="image/svg+xml",
                    headers={"Cache-Control": "no-cache", "X-Thumb-Status": found.status})


def create_app(config: UiConfig) -> Starlette:
    """The app; its SDK client opens on startup (inside the server's event loop)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        client = AsyncClient(config.target, config=config.client)
        app.state.client = client
        app.state.thumbs = Batcher(lambda ids, size: client.thumbnails(ids, size=size),
                                   config.thumb_cache_bytes)
        try:
            yield
        finally:
            await client.close()

    csrf = new_csrf_token()
    app = Starlette(
        routes=[
            Route("/", index),
            Route("/thumb/{id:path}", thumb),
            Route("/api/info", routes.info),
            Route("/api/search", routes.search, methods=["POST"]),
            Route("/api/clusters/{cluster}", routes.cluster_page),
            Route("/api/clusters/{cluster}/name", routes.name_cluster, methods=["POST"]),
            Route("/api/browse", routes.browse, methods=["POST"]),
            Route("/api/ids", routes.ids, methods=["POST"]),
            Route("/api/update", routes.update, methods=["POST"]),
            Route("/api/undo", routes.undo, methods=["POST"]),
            Route("/api/export.csv", routes.export_csv),
            Route("/api/map", routes.collection_map),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        middleware=[Middleware(Guard, csrf=csrf, hosts=host_names(config.host,
                                                                   config.allowed_hosts))],
        exception_handlers={LookalikeError: on_lookalike_error, HttpError: on_http_error,
                            StarletteHTTPException: on_starlette_error,
                            Exception: on_unexpected},
        lifespan=lifespan,
    )
    app.state.config = config
    app.state.csrf = csrf
    app.state.undo = UndoLog()
    return app
