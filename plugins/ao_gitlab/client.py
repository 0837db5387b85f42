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
import threading
import time
import typing as t
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from urllib.parse import quote, urlsplit

import httpx

from ao import __version__
from ao.errors import AoError, AuthError, ConflictError, NotFoundError, RateLimitError, UsageError
from ao.errors import clock_time as when
from ao.httpcache import DiskCache, cache_root
from ao.textsafe import strip_controls
from ao_gitlab.budget import RateBudget

DEFAULT_URL = "https://gitlab.com"
RETRY_STATUSES = (502, 503, 504)
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


def message_of(resp: httpx.Response, limit: int = 300) -> str:
    """GitLab's error message from an answer, as safe one-line text."""
    try:
        doc = resp.json()
        msg = doc.get("message") or doc.get("error") if isinstance(doc, dict) else doc
        if isinstance(msg, dict):  # {"field": ["is invalid"]}
            text = "; ".join(
                f"{k} {' '.join(map(str, v if isinstance(v, list) else [v]))}"
                for k, v in msg.items()
            )
        elif isinstance(msg, list):
            text = "; ".join(map(str, msg))
        else:
            text = str(msg or "")
    except ValueError:
        text = resp.text
    text = " ".join(strip_controls(text).split())
    return (text[: limit - 1] + "…" if len(text) > limit else text) or resp.reason_phrase


def error_for(resp: httpx.Response, what: str) -> AoError:
    """The AoError for a failed answer to ``what`` (e.g. ``merge of !7``)."""
    status, msg = resp.status_code, message_of(resp)
    detail = f"{what}: GitLab answered {status} ({msg})"
    if status == 401:
        return AuthError(detail, hint="check GITLAB_TOKEN / GL_TOKEN (a token with `api` scope)")
    if status == 403:
        return AoError(detail, hint="the token lacks permission for this project")
    if status == 404:
        return NotFoundError(detail, hint="check the project path and the token's access")
    if status in (405, 406, 409, 422):
        return ConflictError(detail)
    if status == 400:
        return UsageError(detail)
    return AoError(detail, hint="GitLab may be having trouble; ao retries on the next pass")


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


class GitLabClient:
    """One GitLab instance with its token, ETag cache and rate-limit budget."""

    def __init__(
        self,
        options: Mapping[str, t.Any] | None = None,
        *,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        opts = dict(options or {})
        self.options = opts
        self.base_url = base_url(opts)
        self.api_url = self.base_url + "/api/v4"
        self.clock = clock or time.time
        self.sleep = sleep or time.sleep
        self.timeout = float(opts.get("timeout", 30.0))
        self.retries = int(opts.get("retries", 2))
        self.max_wait = float(opts.get("maxWait", 10.0))  # longest in-line wait for a 429
        self.root = cache_root("gitlab", self.base_url)
        self.etags = DiskCache(self.root, "etag")
        self.budget = RateBudget(
            self.root / "ratelimit.json", reserve=float(opts.get("reserve", 0.2)), clock=self.clock
        )
        self.stats: Counter[str] = Counter()  # requests by outcome, for tests and reports
        self._transport = transport
        self._http: httpx.Client | None = None
        self._token: str | None = None
        self._lock = threading.Lock()

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

    def http(self) -> httpx.Client:
        """The shared connection pool (thread-safe), created on first use."""
        with self._lock:
            if self._http is None:
                self._http = httpx.Client(
                    timeout=self.timeout,
                    transport=self._transport,
                    verify=ssl_context(),
                    headers={"Accept": "application/json", "User-Agent": f"ao/{__version__}"},
                )
            return self._http

    def close(self) -> None:
        """Close connections and save the budget."""
        self.budget.save()
        with self._lock:
            if self._http is not None:
                self._http.close()
                self._http = None

    def count(self, key: str) -> None:
        """Count one event in ``stats`` (thread-safe)."""
        with self._lock:
            self.stats[key] += 1

    # ------------------------------------------------------------------ requests

    def url(self, path: str, params: Params | None = None) -> str:
        """The absolute URL of an API path like ``/projects/group%2Fapp/issues``."""
        url = path if path.startswith(("http://", "https://")) else self.api_url + path
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
        sent = {"PRIVATE-TOKEN": self.token(), **(headers or {})}
        attempt = 0
        while True:
            self.budget.check(essential=essential)
            try:
                req = self.http().build_request(method, url, json=json, headers=sent)
                resp = self.http().send(req, stream=stream)
            except httpx.TransportError as exc:
                if attempt < self.retries:
                    self.sleep(min(2.0**attempt, 8.0))
                    attempt += 1
                    continue
                raise AoError(
                    f"cannot reach GitLab at {self.host}: {type(exc).__name__}",
                    hint="check the network and the `url` option; ao retries on the next pass",
                ) from None
            self.count("requests")
            self.count(f"status:{resp.status_code}")
            self.budget.observe(resp.headers)
            if resp.status_code == 429:
                if stream:
                    resp.close()
                wait = self._retry_after(resp)
                if wait <= self.max_wait and attempt < self.retries:
                    self.count("waits")
                    self.sleep(wait)
                    attempt += 1
                    continue
                until = self.clock() + wait
                self.budget.pause(until, "429 Too Many Requests")
                self.count("pauses")
                raise RateLimitError(
                    f"GitLab rate limit hit (429); pausing GitLab calls until {when(until)}",
                    until=until,
                    hint="ao resumes by itself; nothing was lost",
                )
            if resp.status_code in RETRY_STATUSES and attempt < self.retries:
                if stream:
                    resp.close()
                self.sleep(min(2.0**attempt, 8.0))
                attempt += 1
                continue
            return resp

    def _retry_after(self, resp: httpx.Response) -> float:
        """Seconds to wait after a 429: ``Retry-After``, else ``RateLimit-Reset``, else 60."""
        retry_after = resp.headers.get("retry-after", "").strip()
        if retry_after.isdigit():
            return max(float(retry_after), 1.0)
        reset = resp.headers.get("ratelimit-reset", "").strip()
        if reset.isdigit():
            return max(float(reset) - self.clock(), 1.0)
        return 60.0

    def get_page(
        self, path: str, params: Params | None = None, *, what: str = ""
    ) -> tuple[t.Any, int | None]:
        """GET a JSON document with ``If-None-Match`` (a 304 is served from the disk cache).

        Returns the body and the next page number (``X-Next-Page``), if any.
        """
        url = self.url(path, params)
        cached = self.etags.get(url)
        headers = {"If-None-Match": cached["etag"]} if cached and cached.get("etag") else {}
        resp = self.request("GET", url, headers=headers)
        if resp.status_code == 304 and cached is not None:
            self.count("not_modified")
            return cached["body"], cached.get("next")
        if resp.status_code != 200:
            raise error_for(resp, what or f"GET {urlsplit(url).path}")
        body = resp.json()
        nxt = resp.headers.get("x-next-page", "").strip()
        next_page = int(nxt) if nxt.isdigit() else None
        if resp.headers.get("etag"):
            self.etags.put(url, {"etag": resp.headers["etag"], "body": body, "next": next_page})
        return body, next_page

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

    def stream_lines(self, path: str, *, max_bytes: int) -> Iterator[str]:
        """Lines of a text download, stopping after ``max_bytes``."""
        resp = self.request("GET", path, stream=True)
        try:
            if resp.status_code != 200:
                resp.read()
                raise error_for(resp, f"GET {urlsplit(self.url(path)).path}")
            seen = 0
            try:
                for line in resp.iter_lines():
                    seen += len(line) + 1
                    yield line
                    if seen >= max_bytes:
                        break
            except httpx.HTTPError as exc:
                raise AoError(
                    f"download from {self.host} broke off: {type(exc).__name__}"
                ) from None
        finally:
            resp.close()
