"""The HTTP client of the Linear plugin: auth, GraphQL over POST, rate limits, retries, errors.

Every call goes through ``LinearClient.graphql``. Linear reports its request budget in
``X-RateLimit-Requests-{Limit,Remaining,Reset}`` headers (the reset in epoch
milliseconds) and its complexity budget in ``X-RateLimit-Complexity-*``; both are kept
in ``limits``. A refusal — HTTP 429, or a GraphQL error whose ``extensions.code`` is
``RATELIMITED`` (Linear also sends those with HTTP 400) — is waited out in line when
the wait (``Retry-After``, else the reset time, else an exponential backoff) is at most
``maxWait`` seconds; longer waits pause the client and raise ``LinearRateLimitError``,
and calls during the pause fail at once without touching the network; the pause is kept
under ``$AO_HOME/cache/linear/`` so the next process (``ao watch --once`` from cron)
honours it too. 5xx answers and
connection errors are retried with backoff. GraphQL errors are mapped to the
``ao.sdk.errors`` tree by their ``extensions.type``/``code`` (as ``@linear/sdk`` does).
``clock`` and ``sleep`` are injectable so tests can drive time. Tokens never appear in
messages.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import typing as t
from collections import Counter
from collections.abc import Callable, Mapping

import httpx

from ao import __version__
from ao.sdk.errors import AoError, AuthError, NotFoundError, RateLimitError, UsageError
from ao.sdk.errors import clock_time as when
from ao.sdk.httpcache import DiskCache
from ao.sdk.redact import redact, register
from ao.sdk.textsafe import strip_controls

DEFAULT_API = "https://api.linear.app/graphql"
TOKEN_ENV = "LINEAR_API_KEY"
RETRY_STATUSES = (500, 502, 503, 504)
KEY_HINT = "set LINEAR_API_KEY to a personal API key (Linear: Settings → Security & access)"


class LinearRateLimitError(RateLimitError):
    """Linear asked ao to slow down; nothing is sent until ``until`` (epoch seconds)."""


def one_line(text: str, limit: int = 300) -> str:
    """Untrusted server text as one safe, bounded line, known secrets redacted."""
    text = redact(" ".join(strip_controls(text).split()))
    return text[: limit - 1] + "…" if len(text) > limit else text


def _ext(err: Mapping[str, t.Any]) -> dict[str, t.Any]:
    ext = err.get("extensions")
    return ext if isinstance(ext, dict) else {}


def error_text(err: Mapping[str, t.Any]) -> str:
    """The most readable message of one GraphQL error (as ``@linear/sdk`` picks it)."""
    ext = _ext(err)
    return one_line(str(ext.get("userPresentableMessage") or err.get("message") or ext))


def _is_rate_limit(err: Mapping[str, t.Any]) -> bool:
    ext = _ext(err)
    return ext.get("code") == "RATELIMITED" or ext.get("type") == "ratelimited"


def error_for(status: int, errors: list[dict[str, t.Any]], what: str) -> AoError:
    """The AoError for a failed answer to ``what`` (e.g. ``issue ENG-7``)."""
    first = errors[0] if errors else {}
    ext = _ext(first)
    kind, code = str(ext.get("type") or ""), str(ext.get("code") or "")
    msg = error_text(first) if first else f"HTTP {status}"
    suffix = f" (HTTP {status})" if first and status != 200 else ""
    detail = f"{what}: Linear answered {msg}{suffix}"
    if status == 401 or kind == "authentication error" or code == "AUTHENTICATION_ERROR":
        return AuthError(f"{what}: Linear rejected the API key ({msg})", hint=KEY_HINT)
    if status == 403 or kind in ("forbidden", "feature not accessible"):
        return AoError(detail, hint="the API key's user lacks access to this team or feature")
    raw = f"{first.get('message', '')} {msg}".lower()
    if "not found" in raw or code == "ENTITY_NOT_FOUND":
        return NotFoundError(detail, hint="check the issue identifier and the team key")
    if kind == "graphql error" or code == "GRAPHQL_VALIDATION_FAILED":
        return AoError(detail, hint="Linear's API changed under this plugin; upgrade ao")
    if kind in ("invalid input", "user error") or code in ("INPUT_ERROR", "BAD_USER_INPUT"):
        return UsageError(detail)
    if kind == "usage limit exceeded":
        return AoError(detail, hint="the workspace reached a plan limit in Linear")
    return AoError(detail, hint="Linear may be having trouble; try again later")


class LinearClient:
    """One Linear GraphQL endpoint with its API key, limits and retry policy.

    Options: ``apiUrl`` (else ``$AO_LINEAR_API_URL``, else Linear's), ``tokenEnv`` (the
    variable holding the key; default ``LINEAR_API_KEY``), ``authScheme`` (``bearer``
    for OAuth tokens; ``lin_oauth_…`` tokens are detected), ``timeout`` (seconds, 30),
    ``retries`` (2) and ``maxWait`` (longest in-line wait for a limit, 10 seconds).
    """

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
        url = opts.get("apiUrl") or os.environ.get("AO_LINEAR_API_URL") or DEFAULT_API
        self.url = str(url).rstrip("/")
        if not self.url.endswith("/graphql"):
            self.url += "/graphql"
        self.clock = clock or time.time
        self.sleep = sleep or time.sleep
        self.timeout = float(opts.get("timeout", 30.0))
        self.retries = int(opts.get("retries", 2))
        self.max_wait = float(opts.get("maxWait", 10.0))
        self.limits: dict[str, float] = {}  # last seen rate-limit headers, lower-cased names
        self.paused_until = self._saved_pause()
        self.stats: Counter[str] = Counter()  # requests, waits, pauses, retries
        self._transport = transport
        self._http: httpx.Client | None = None
        self._token: str | None = None
        self._lock = threading.Lock()

    def _pause_store(self) -> DiskCache:
        from ao.sdk.httpcache import cache_root

        return DiskCache(cache_root("linear", self.url), "budget")

    def _saved_pause(self) -> float:
        saved = self._pause_store().get("paused_until")
        return float(saved) if isinstance(saved, (int, float)) else 0.0

    def _save_pause(self) -> None:
        with contextlib.suppress(OSError):
            self._pause_store().put("paused_until", self.paused_until)

    # ------------------------------------------------------------------ auth

    def token(self) -> str:
        """The API key from ``$<tokenEnv>`` or ``$LINEAR_API_KEY``."""
        if self._token:
            return self._token
        name = str(self.options.get("tokenEnv") or TOKEN_ENV)
        value = os.environ.get(name, "").strip()
        if not value:
            raise AuthError(f"no Linear API key: ${name} is not set", hint=KEY_HINT)
        self._token = value
        register(value)  # from now on, no message or event of this process shows it
        return value

    def authorization(self) -> str:
        """The ``Authorization`` header: the bare key, or ``Bearer`` for OAuth tokens."""
        token = self.token()
        if token.lower().startswith("bearer "):
            return token
        oauth = str(self.options.get("authScheme", "")).lower() == "bearer"
        return f"Bearer {token}" if oauth or token.startswith("lin_oauth_") else token

    def http(self) -> httpx.Client:
        """The shared connection pool (thread-safe), created on first use."""
        with self._lock:
            if self._http is None:
                self._http = httpx.Client(
                    timeout=self.timeout,
                    transport=self._transport,
                    headers={"User-Agent": f"ao/{__version__}", "Accept": "application/json"},
                )
            return self._http

    def close(self) -> None:
        """Close connections."""
        with self._lock:
            if self._http is not None:
                self._http.close()
                self._http = None

    # ------------------------------------------------------------------ requests

    def graphql(self, query: str, variables: Mapping[str, t.Any], *, what: str) -> t.Any:
        """Run one GraphQL operation; returns its ``data`` or raises an AoError."""
        attempt = 0
        while True:
            if self.paused_until > self.clock():
                raise LinearRateLimitError(
                    f"{what}: Linear calls are paused by its rate limit until "
                    f"{when(self.paused_until)}",
                    until=self.paused_until,
                    hint="wait until then; nothing was sent",
                )
            resp = self._send(query, variables, what, attempt)
            if resp is None:
                attempt += 1
                continue
            self._observe(resp.headers)
            doc = self._json(resp)
            errors = [e for e in doc.get("errors") or [] if isinstance(e, dict)]
            if resp.status_code == 429 or any(_is_rate_limit(e) for e in errors):
                wait = self._wait_for(resp.headers, attempt)
                if wait <= self.max_wait and attempt < self.retries:
                    self.stats["waits"] += 1
                    self.sleep(wait)
                    attempt += 1
                    continue
                self.paused_until = self.clock() + wait
                self._save_pause()
                self.stats["pauses"] += 1
                raise LinearRateLimitError(
                    f"{what}: Linear's rate limit was hit; pausing Linear calls until "
                    f"{when(self.paused_until)}",
                    until=self.paused_until,
                    hint="ao resumes by itself; nothing was lost",
                )
            if resp.status_code in RETRY_STATUSES and attempt < self.retries:
                self.stats["retries"] += 1
                self.sleep(min(2.0**attempt, 8.0))
                attempt += 1
                continue
            if errors or resp.status_code != 200:
                raise error_for(resp.status_code, errors, what)
            data = doc.get("data")
            return data if isinstance(data, dict) else {}

    def _send(
        self, query: str, variables: Mapping[str, t.Any], what: str, attempt: int
    ) -> httpx.Response | None:
        """POST once; None when a connection error should be retried."""
        try:
            resp = self.http().post(
                self.url,
                json={"query": query, "variables": dict(variables)},
                headers={"Authorization": self.authorization()},
            )
        except httpx.TransportError as exc:
            if attempt < self.retries:
                self.stats["retries"] += 1
                self.sleep(min(2.0**attempt, 8.0))
                return None
            raise AoError(
                f"{what}: cannot reach Linear at {httpx.URL(self.url).host}: {type(exc).__name__}",
                hint="check the network (or apiUrl); try again later",
            ) from None
        self.stats["requests"] += 1
        self.stats[f"http:{resp.status_code}"] += 1
        return resp

    @staticmethod
    def _json(resp: httpx.Response) -> dict[str, t.Any]:
        try:
            doc = resp.json()
        except ValueError:
            return {}
        return doc if isinstance(doc, dict) else {}

    def _observe(self, headers: httpx.Headers) -> None:
        for name, value in headers.items():
            key = name.lower()
            if key.startswith("x-ratelimit-"):
                try:
                    self.limits[key.removeprefix("x-ratelimit-")] = float(value)
                except ValueError:
                    continue

    def _wait_for(self, headers: httpx.Headers, attempt: int) -> float:
        """Seconds until a rate-limited request may be sent again."""
        retry_after = headers.get("retry-after", "").strip()
        if retry_after.replace(".", "", 1).isdigit():
            return max(float(retry_after), 0.5)
        resets = []
        for kind in ("requests", "complexity"):
            remaining = headers.get(f"x-ratelimit-{kind}-remaining")
            reset = headers.get(f"x-ratelimit-{kind}-reset", "")
            if remaining is not None and remaining.strip() in ("0", "0.0") and reset.isdigit():
                epoch = float(reset) / (1000.0 if float(reset) > 1e11 else 1.0)  # ms, usually
                resets.append(epoch - self.clock())
        if resets:
            return max(max(resets), 1.0)
        return min(2.0**attempt, 8.0)
