"""``ao api METHOD PATH [-d JSON]``: a call to the running dashboard's REST API.

The server is the one serving the current config (``Orchestrator.dashboard``), or
``--url``. The token comes from ``$AO_DASHBOARD_TOKEN``, else ``$AO_HOME/dashboard.token``.
An error document becomes an ``AoError`` with the document's ``code`` as the exit code,
so ``ao api`` fails exactly as the matching command does.
"""

from __future__ import annotations

import json
import typing as t

import httpx

from ao.sdk.errors import AoError, NotFoundError, UsageError

if t.TYPE_CHECKING:
    from collections.abc import Callable

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class RemoteError(AoError):
    """A failure the server reported, with the exit code it gave."""

    def __init__(self, message: str, *, hint: str | None, exit_code: int) -> None:
        super().__init__(message, hint=hint or None)
        self.exit_code = exit_code


def api_path(path: str) -> str:
    """``path`` under ``/api`` (``/sessions`` and ``/api/sessions`` are the same)."""
    if not path.startswith("/"):
        path = "/" + path
    return path if path == "/api" or path.startswith(("/api/", "/api?")) else "/api" + path


def body_of(data: str | None) -> t.Any:
    """The JSON ``-d`` gives (checked here, so a typo fails before anything is sent)."""
    if data is None:
        return None
    try:
        return json.loads(data)
    except ValueError as exc:
        raise UsageError(f"-d is not JSON: {exc}", hint="""e.g. -d '{"content": "hi"}'""") from None


def call(
    method: str,
    path: str,
    data: str | None,
    *,
    base_url: str,
    token: str | None,
    out: Callable[[str], None],
    timeout: float = 300.0,
) -> None:
    """Send the request and print the answer: JSON pretty-printed, text as it is, an event
    stream line by line as it arrives. An error answer raises ``RemoteError``."""
    method = method.upper()
    if method not in METHODS:
        raise UsageError(f"unknown method {method!r}", hint=f"use one of {', '.join(METHODS)}")
    body = body_of(data)
    headers = {"Accept": "application/json, text/plain, text/event-stream"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    kwargs: dict[str, t.Any] = {"headers": headers}
    if body is not None:
        kwargs["json"] = body
    url = base_url.rstrip("/") + api_path(path)
    try:
        # no read timeout: an event stream is quiet between events; spawns take their time
        with (
            httpx.Client(timeout=httpx.Timeout(timeout, read=None)) as client,
            client.stream(method, url, **kwargs) as response,
        ):
            _print(response, out)
    except httpx.TransportError as exc:
        raise NotFoundError(
            f"no dashboard answers at {base_url} ({type(exc).__name__})",
            hint="start one with `ao dashboard` (`ao start` runs one beside the watcher)",
        ) from None


def _print(response: httpx.Response, out: Callable[[str], None]) -> None:
    kind = response.headers.get("content-type", "")
    if response.is_success and kind.startswith("text/event-stream"):
        for line in response.iter_lines():
            out(line)
        return
    text = response.read().decode("utf-8", "replace")
    doc = None
    if kind.startswith("application/json"):
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
    if response.is_success:
        out(json.dumps(doc, indent=2, ensure_ascii=False) if doc is not None else text.rstrip("\n"))
        return
    error = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(error, dict) and isinstance(error.get("code"), int):
        raise RemoteError(
            str(error.get("message", "")), hint=str(error.get("hint") or ""),
            exit_code=error["code"],
        )  # fmt: skip
    raise AoError(f"HTTP {response.status_code} from the dashboard: {text.strip()[:200]}")
