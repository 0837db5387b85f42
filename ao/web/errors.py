"""Errors as documents: ``{"error": {"code", "message", "hint"}}``.

``code`` is the exit code the CLI gives the same failure (docs/architecture.md), so a
script can treat ``ao api`` and the other commands alike; the HTTP status follows from it.
Messages are redacted like the CLI's error line.
"""

from __future__ import annotations

import time
import typing as t

from starlette.responses import JSONResponse

from ao.sdk.errors import AoError, RateLimitError
from ao.sdk.redact import redact

# exit code -> HTTP status (docs/dashboard.md, "Errors")
STATUS_BY_CODE = {
    1: 500,  # a failure with no better class
    2: 400,  # usage: bad arguments, names, ids, bodies
    3: 503,  # the server's config is missing or invalid: fix it, then retry
    4: 404,  # project, session, plugin or file not found
    5: 409,  # conflict: refusing to lose work or to collide with existing state
    6: 502,  # an external command failed
    7: 504,  # an external command timed out
    8: 500,  # a plugin failed to load
    9: 500,  # spawn failed (everything it created was undone)
    10: 502,  # a service refused ao's credentials (the dashboard's own refusals: 401/403)
    11: 503,  # a service's rate limit: Retry-After says until when
    12: 500,  # the OS refused a file operation
}
USAGE = 2
NOT_FOUND = 4
AUTH = 10  # the code of the dashboard's own refusals (no or wrong token, Host, Origin)


def error_body(code: int, message: str, hint: str | None = None) -> dict[str, t.Any]:
    """The error document (secrets and credential-shaped strings redacted)."""
    return {"error": {"code": code, "message": redact(message), "hint": redact(hint or "")}}


def error_response(
    status: int,
    code: int,
    message: str,
    hint: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An error document with its HTTP status."""
    return JSONResponse(error_body(code, message, hint), status_code=status, headers=headers)


def for_ao_error(exc: AoError) -> JSONResponse:
    """The response for an ``AoError``: its exit code as ``code``, its status from it."""
    code = exc.exit_code
    headers = None
    if isinstance(exc, RateLimitError):
        headers = {"Retry-After": str(max(1, int(exc.until - time.time()) + 1))}
    return error_response(STATUS_BY_CODE.get(code, 500), code, exc.message, exc.hint, headers)
