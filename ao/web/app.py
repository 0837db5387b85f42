"""The ASGI application: the page, the REST routes and the terminals behind the ``Guard``,
errors as documents.

``create_app(api, policy)`` is everything ``ao dashboard`` serves; tests run it in-process
too (with an ``Orchestrator`` on an in-memory runtime). The page is static files
(``ao/web/static``: plain ES modules, no build step) shipped in the package.
"""

from __future__ import annotations

import logging
import mimetypes
import typing as t
from pathlib import Path

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from ao import __version__
from ao.sdk.errors import AoError
from ao.store.oserrors import from_os_error
from ao.web.errors import AUTH, NOT_FOUND, USAGE, error_response, for_ao_error
from ao.web.fleet import Cards, Fleet
from ao.web.routes import router
from ao.web.security import COOKIE, Guard, Policy
from ao.web.terminal import TerminalHub

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from starlette.types import ASGIApp, Receive, Scope, Send

    from ao.api import Orchestrator

log = logging.getLogger("ao.web")
STATIC = Path(__file__).with_name("static")
# the page's scripts, styles and websockets come from this server only; nothing may frame it
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
# ES modules are refused with any other type; some systems' tables lack .mjs
mimetypes.add_type("text/javascript", ".mjs")

DESCRIPTION = """The REST API of ao's dashboard: the same operations and JSON documents as
the `ao` command line (`ao … --json` prints `{"v": 1, "data": …}`; a route answers the
`data`). Errors are `{"error": {"code", "message", "hint"}}` with `code` the CLI's exit
code. Changing state needs the token (`Authorization: Bearer …`, from
`$AO_HOME/dashboard.token`); on a loopback bind reads do not. See docs/dashboard.md."""


def create_app(
    api: Orchestrator,
    policy: Policy,
    *,
    stopping: Callable[[], bool] = lambda: False,
    poll_interval: float = 1.0,
) -> FastAPI:
    """The dashboard's application over ``api``, admitting what ``policy`` allows.
    ``stopping`` says when open event streams should end (the server is shutting down);
    ``poll_interval`` is the least time between two fleet snapshots."""
    app = FastAPI(
        title="ao",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/api/openapi.json",
        docs_url=None,  # the interactive docs load scripts from a CDN: not on this server
        redoc_url=None,
    )
    fleet = Fleet(Cards(api), interval=poll_interval)
    hub = TerminalHub()
    app.state.terminals = hub
    app.include_router(router(api, fleet, hub, stopping))
    app.mount("/static", Static(directory=STATIC), name="static")
    app.add_middleware(JsonBodies)
    app.add_middleware(Guard, policy=policy)  # added last: the outermost
    _errors(app)

    @app.get("/", include_in_schema=False)
    def index(token: str | None = Query(None)) -> Response:
        if token is not None:  # the Guard checked it: keep it in a cookie, out of the URL
            response = RedirectResponse("/", status_code=303)
            response.set_cookie(COOKIE, policy.token, httponly=True, samesite="strict", path="/")
            return response
        return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)

    return app


class Static(StaticFiles):
    """The page's files, revalidated on every load (an upgraded ao serves new ones)."""

    def file_response(self, *args: t.Any, **kwargs: t.Any) -> Response:
        """The file, with headers that keep it current and typed as declared."""
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


class JsonBodies:
    """Every request body is JSON, whatever its Content-Type says (``curl -d`` sends a
    form's): a body that is not JSON is a 400 that says so, never a puzzling 422."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, declared as JSON when it may carry a body."""
        if scope["type"] == "http" and scope.get("method") not in ("GET", "HEAD"):
            headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
            scope = {**scope, "headers": [*headers, (b"content-type", b"application/json")]}
        await self.app(scope, receive, send)


def _errors(app: FastAPI) -> None:
    """Every failure as an error document (docs/dashboard.md, "Errors")."""

    @app.exception_handler(AoError)
    async def ao_error(request: Request, exc: AoError) -> JSONResponse:
        return for_ao_error(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = list(exc.errors())
        if any(p.get("type") == "json_invalid" for p in problems):
            return error_response(
                400, USAGE, "the body is not valid JSON", "send a JSON object (Content-Type: "
                "application/json)",
            )  # fmt: skip
        return error_response(
            422, USAGE, "; ".join(_problem(p) for p in problems[:5]), "see /api/openapi.json"
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        status = exc.status_code
        code = NOT_FOUND if status == 404 else AUTH if status in (401, 403) else USAGE
        message = "no such route" if status == 404 else str(exc.detail)  # 405, 413 (body)
        return error_response(
            exc.status_code,
            code,
            message,
            "see /api/openapi.json",
            headers=dict(exc.headers) if exc.headers else None,
        )

    @app.exception_handler(OSError)
    async def os_error(request: Request, exc: OSError) -> JSONResponse:
        return for_ao_error(from_os_error(exc))

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return error_response(500, 1, f"internal error ({type(exc).__name__})",
                              "see the dashboard's output")  # fmt: skip


def _problem(problem: t.Mapping[str, t.Any]) -> str:
    """One validation problem as ``where: what`` (``body.content: …``), without the input."""
    where = ".".join(str(part) for part in problem.get("loc", ()) if part != "body")
    what = str(problem.get("msg", "invalid")).removeprefix("Value error, ")
    if problem.get("type") == "missing" and where == "":
        what = "a JSON body is required"
    return f"{where}: {what}" if where else what
