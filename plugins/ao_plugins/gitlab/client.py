"""The HTTP client of the GitLab plugins: auth, endpoints, conditional GETs, limits, retries.

Every request goes through ``GitLabClient.request``: the rate-limit budget is checked
first (a pause raises ``RateLimitError`` without touching the network), the answer's
``RateLimit-*`` headers are recorded, a 429 is waited out when its ``Retry-After`` is
short and turned into a persisted pause when long, and 502/503/504 and connection
errors are retried with backoff. ``clock`` and ``sleep`` are injectable so tests can
drive time. The token travels only in the ``PRIVATE-TOKEN`` header, never in messages.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import ssl
import typing as t
from collections.abc import Callable, Mapping
from urllib.parse import quote, urlsplit

import httpx

from ao import __version__
from ao.sdk.errors import (
    AoError,
    AuthError,
    ConflictError,
    NotFoundError,
    RateLimitError,
    UsageError,
)
from ao.sdk.errors import clock_time as when
from ao.sdk.forge import ErrorRules, ForgeClient, answer_error
from ao.sdk.forge import message_of as forge_message
from ao.sdk.httpcache import cache_root
from ao_plugins.gitlab.budget import RateBudget

DEFAULT_URL = "https://gitlab.com"
Params = Mapping[str, str | int | list[str]]
_PATH = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.+-]*(?:/[A-Za-z0-9_.][A-Za-z0-9_.+-]*)+$")


def base_url(options: Mapping[str, t.Any]) -> str:
    """The instance URL: ``$AO_GITLAB_URL``, else option ``url``, else gitlab.com."""
    url = os.environ.get("AO_GITLAB_URL") or options.get("url") or DEFAULT_URL
    url = str(url).strip().rstrip("/")
    return url.removesuffix("/api/v4")


def project_id(repo: str) -> str:
    """The project path (``group/sub/app``) URL-encoded as the ``:id`` of API paths."""
    path = repo.strip().strip("/")
    if path.isdigit():
        return path
    if not _PATH.match(path) or ".." in path or path.endswith((".git", ".atom")):
        raise UsageError(
            f"{repo!r} is not a GitLab project path (group/name or group/sub/name)",
            hint="set `repo: group/name` on the project in agent-orchestrator.yaml",
        )
    return quote(path, safe="")


def _gitlab_text(doc: t.Any) -> str:
    msg = doc.get("message") or doc.get("error") if isinstance(doc, dict) else doc
    if isinstance(msg, dict):  # {"field": ["is invalid"]}
        return "; ".join(
            f"{k} {' '.join(map(str, v if isinstance(v, list) else [v]))}" for k, v in msg.items()
        )
    if isinstance(msg, list):
        return "; ".join(map(str, msg))
    return str(msg or "")


def message_of(resp: httpx.Response, limit: int = 300) -> str:
    """GitLab's error message from an answer, as safe one-line text."""
    return forge_message(resp, _gitlab_text, limit)


_ERRORS: ErrorRules = {
    400: (UsageError, None),
    401: (AuthError, "check GITLAB_TOKEN / GL_TOKEN (a token with `api` scope)"),
    403: (AoError, "the token lacks permission for this project"),
    404: (NotFoundError, "check the project path and the token's access"),
    **dict.fromkeys((405, 406, 409, 422), (ConflictError, None)),
}


def error_for(resp: httpx.Response, what: str) -> AoError:
    """The AoError for a failed answer to ``what`` (e.g. ``merge of !7``)."""
    return answer_error(resp, what, forge="GitLab", message=message_of(resp), rules=_ERRORS)


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """One TLS context per process (loading the CA bundle costs ~60 ms per client)."""
    return httpx.create_ssl_context()


def timestamp(text: t.Any) -> float | None:
    """An ISO-8601 time from GitLab (``2025-01-01T10:00:00.123Z``) as epoch seconds."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class GitLabClient(ForgeClient):
    """One GitLab instance with its token, ETag cache and rate-limit budget."""

    forge = "GitLab"
    unreachable_hint = "check the network and the `url` option; ao retries on the next pass"
    budget: RateBudget

    def __init__(
        self,
        options: Mapping[str, t.Any] | None = None,
        *,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        opts = dict(options or {})
        self.base_url = base_url(opts)
        root = cache_root("gitlab", self.base_url)
        super().__init__(opts, root, clock=clock, sleep=sleep, transport=transport)
        self.api_url = self.base_url + "/api/v4"
        self.budget = RateBudget(
            root / "ratelimit.json", reserve=float(opts.get("reserve", 0.2)), clock=self.clock
        )

    # ------------------------------------------------------------------ auth

    @property
    def host(self) -> str:
        """The instance's host name, for messages."""
        return urlsplit(self.base_url).netloc or self.base_url

    def token(self) -> str:
        """Option ``tokenEnv``'s variable, else ``$GITLAB_TOKEN``, else ``$GL_TOKEN``."""
        if self._token:
            return self._token
        names = [str(self.options["tokenEnv"])] if self.options.get("tokenEnv") else []
        for name in [*names, "GITLAB_TOKEN", "GL_TOKEN"]:
            if os.environ.get(name, "").strip():
                self._token = os.environ[name].strip()
                return self._token
        raise AuthError(
            f"no GitLab token for {self.host}",
            hint="set GITLAB_TOKEN (or GL_TOKEN) to a personal access token with `api` scope",
        )

    def _client_options(self) -> dict[str, t.Any]:
        return {
            "verify": ssl_context(),
            "headers": {"Accept": "application/json", "User-Agent": f"ao/{__version__}"},
        }

    def _auth(self, token: str) -> dict[str, str]:
        return {"PRIVATE-TOKEN": token}

    # ------------------------------------------------------------------ requests

    def url(self, path: str, params: Params | None = None) -> str:
        """The absolute URL of an API path like ``/projects/group%2Fapp/issues``."""
        url = super().url(path)
        return str(httpx.URL(url, params=params)) if params else url

    def request(
        self,
        method: str,
        path: str,
        *,
        json: t.Any = None,
        params: Params | None = None,
        headers: Mapping[str, str] | None = None,
        essential: bool = False,
        stream: bool = False,
    ) -> httpx.Response:
        """Send one request within the budget; retries transient failures.

        Returns the answer whatever its status (callers map 4xx with ``error_for``),
        except rate limits, which raise ``RateLimitError`` once waiting in line would
        take longer than ``maxWait`` seconds. With ``stream`` the body is not read.
        """
        url = self.url(path, params)
        return self._send(
            method, url, json=json, headers=headers, essential=essential, stream=stream
        )

    def _check(self, resource: str, *, conditional: bool, essential: bool) -> None:
        self.budget.check(essential=essential)

    def _observe(self, resource: str, resp: httpx.Response) -> str:
        self.count(f"status:{resp.status_code}")
        self.budget.observe(resp.headers)
        return resource

    def _error_for(self, resp: httpx.Response, what: str) -> AoError:
        return error_for(resp, what)

    def _limited(self, resp: httpx.Response) -> float | None:
        """Seconds to wait after a 429: ``Retry-After``, else ``RateLimit-Reset``, else 60."""
        if resp.status_code != 429:
            return None
        retry_after = resp.headers.get("retry-after", "").strip()
        if retry_after.isdigit():
            return max(float(retry_after), 1.0)
        reset = resp.headers.get("ratelimit-reset", "").strip()
        if reset.isdigit():
            return max(float(reset) - self.clock(), 1.0)
        return 60.0

    def _pause(self, resp: httpx.Response, resource: str, wait: float) -> RateLimitError:
        until = self.clock() + wait
        self.budget.pause(until, "429 Too Many Requests")
        return RateLimitError(
            f"GitLab rate limit hit (429); pausing GitLab calls until {when(until)}",
            until=until,
            hint="ao resumes by itself; nothing was lost",
        )

    def get_page(
        self, path: str, params: Params | None = None, *, what: str = ""
    ) -> tuple[t.Any, int | None]:
        """GET a JSON document with ``If-None-Match`` (a 304 is served from the disk cache).

        Returns the body and the next page number (``X-Next-Page``), if any.
        """
        url = self.url(path, params)
        entry = self._get_cached(url, what or f"GET {urlsplit(url).path}", _next_page)
        return entry["body"], entry.get("next")

    def get_json(self, path: str, params: Params | None = None, *, what: str = "") -> t.Any:
        """GET one JSON document (conditional, see ``get_page``)."""
        return self.get_page(path, params, what=what)[0]

    def get_all(
        self, path: str, params: Params | None = None, *, what: str = "", max_pages: int = 20
    ) -> list[t.Any]:
        """Every item of a paginated list (``per_page=100``), up to ``max_pages`` pages."""
        items: list[t.Any] = []
        page: int | None = 1
        while page is not None and page <= max_pages:
            body, page = self.get_page(
                path, {**(params or {}), "per_page": 100, "page": page}, what=what
            )
            items += body if isinstance(body, list) else []
        return items


def _next_page(resp: httpx.Response) -> dict[str, t.Any]:
    nxt = resp.headers.get("x-next-page", "").strip()
    return {"next": int(nxt) if nxt.isdigit() else None}
