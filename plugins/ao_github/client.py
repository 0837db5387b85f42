"""The HTTP client of the GitHub plugins: auth, endpoints, conditional GETs, limits, retries.

Every request goes through ``GitHubClient.request``: the rate-limit budget is checked
first (a pause raises ``RateLimitError`` without touching the network), the answer's
``x-ratelimit-*`` headers are recorded, secondary limits (403/429 with ``Retry-After``)
are waited out when short and turned into a persisted pause when long, and 502/503/504
and connection errors are retried with backoff. ``clock`` and ``sleep`` are injectable
so tests can drive time. Tokens never appear in messages.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import typing as t
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from urllib.parse import urlsplit

import httpx

from ao import __version__
from ao.errors import AoError, AuthError, ConflictError, NotFoundError, RateLimitError, UsageError
from ao.errors import clock_time as when
from ao.httpcache import DiskCache, cache_root
from ao.textsafe import strip_controls
from ao_github.budget import SECONDARY, RateBudget

DEFAULT_API = "https://api.github.com"
API_VERSION_HEADER = "2022-11-28"
RETRY_STATUSES = (502, 503, 504)
MISSING = "404"  # the "ETag" of a probe that answered 404


def api_urls(options: Mapping[str, t.Any]) -> tuple[str, str]:
    """The REST and GraphQL base URLs: option ``apiUrl``, else ``$AO_GITHUB_API_URL``.

    Enterprise Server is ``https://HOST/api/v3``; its GraphQL endpoint is
    ``https://HOST/api/graphql`` (option ``graphqlUrl`` overrides the derivation).
    """
    api = str(options.get("apiUrl") or os.environ.get("AO_GITHUB_API_URL") or DEFAULT_API)
    api = api.rstrip("/")
    graphql = options.get("graphqlUrl")
    if not graphql:
        graphql = api[: -len("/v3")] + "/graphql" if api.endswith("/api/v3") else api + "/graphql"
    return api, str(graphql).rstrip("/")


def split_repo(repo: str) -> tuple[str, str]:
    """``owner/name`` as its two parts; UsageError for anything else."""
    parts = repo.strip().split("/")
    if len(parts) != 2 or not all(parts) or any(c in repo for c in " ?#\\"):
        raise UsageError(
            f"{repo!r} is not a GitHub repository (owner/name)",
            hint="set `repo: owner/name` on the project in agent-orchestrator.yaml",
        )
    return parts[0], parts[1]


def message_of(resp: httpx.Response, limit: int = 300) -> str:
    """GitHub's error message from an answer, as safe one-line text."""
    try:
        doc = resp.json()
        text = str(doc.get("message") or "") if isinstance(doc, dict) else ""
        errors = doc.get("errors") if isinstance(doc, dict) else None
        if isinstance(errors, list) and errors:
            details = [str(e.get("message") or e.get("code") or e) for e in errors if e]
            text = f"{text}: {'; '.join(details)}" if text else "; ".join(details)
    except ValueError:
        text = resp.text
    text = " ".join(strip_controls(text).split())
    return (text[: limit - 1] + "…" if len(text) > limit else text) or resp.reason_phrase


def error_for(resp: httpx.Response, what: str) -> AoError:
    """The AoError for a failed answer to ``what`` (e.g. ``merge of #7``)."""
    status, msg = resp.status_code, message_of(resp)
    detail = f"{what}: GitHub answered {status} ({msg})"
    if status == 401:
        return AuthError(detail, hint="check GITHUB_TOKEN / GH_TOKEN or `gh auth status`")
    if status == 403:
        return AoError(detail, hint="the token lacks permission for this repository")
    if status == 404:
        return NotFoundError(detail, hint="check the repository name and the token's access")
    if status in (405, 409):
        return ConflictError(detail)
    if status == 422:
        return UsageError(detail)
    return AoError(detail, hint="GitHub may be having trouble; ao retries on the next pass")


class GitHubClient:
    """One GitHub endpoint (github.com or Enterprise) with its token, cache and budget."""

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
        self.api_url, self.graphql_url = api_urls(opts)
        self.clock = clock or time.time
        self.sleep = sleep or time.sleep
        self.timeout = float(opts.get("timeout", 30.0))
        self.retries = int(opts.get("retries", 2))
        self.max_wait = float(opts.get("maxWait", 10.0))  # longest in-line wait for a limit
        self.root = cache_root("github", self.api_url)
        self.etags = DiskCache(self.root, "etag")
        self.budget = RateBudget(
            self.root / "ratelimit.json", reserve=float(opts.get("reserve", 0.2)), clock=self.clock
        )
        self.stats: Counter[str] = Counter()  # requests by kind, for tests and `--json`
        self._transport = transport
        self._http: httpx.Client | None = None
        self._token: str | None = opts.get("token") if isinstance(opts.get("token"), str) else None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ auth

    @property
    def host(self) -> str:
        """The web host of this endpoint (``github.com`` for the public API)."""
        netloc = urlsplit(self.api_url).netloc
        return "github.com" if netloc == "api.github.com" else netloc

    def token(self) -> str:
        """``GITHUB_TOKEN``/``GH_TOKEN`` (or option ``tokenEnv``), else ``gh auth token``."""
        if self._token:
            return self._token
        names = [str(self.options["tokenEnv"])] if self.options.get("tokenEnv") else []
        names += ["GITHUB_TOKEN", "GH_TOKEN"]
        if self.host != "github.com":
            names += ["GH_ENTERPRISE_TOKEN", "GITHUB_ENTERPRISE_TOKEN"]
        for name in names:
            if os.environ.get(name):
                self._token = os.environ[name].strip()
                return self._token
        if shutil.which("gh"):
            from ao.proc import run

            argv = ["gh", "auth", "token"]
            if self.host != "github.com":
                argv += ["--hostname", self.host]
            result = run(argv, timeout=10, check=False)
            if result.returncode == 0 and result.stdout.strip():
                self._token = result.stdout.strip()
                return self._token
        raise AoError(
            f"no GitHub token for {self.host}",
            hint="set GITHUB_TOKEN (or GH_TOKEN), or run `gh auth login`",
        )

    def http(self) -> httpx.Client:
        """The shared connection pool (thread-safe), created on first use."""
        with self._lock:
            if self._http is None:
                self._http = httpx.Client(
                    timeout=self.timeout,
                    transport=self._transport,
                    headers={
                        "Accept": "application/vnd.github+json",
                        "X-GitHub-Api-Version": API_VERSION_HEADER,
                        "User-Agent": f"ao/{__version__}",
                    },
                )
            return self._http

    def close(self) -> None:
        """Close connections and save the budget."""
        self.budget.save()
        with self._lock:
            if self._http is not None:
                self._http.close()
                self._http = None

    # ------------------------------------------------------------------ requests

    def url(self, path: str) -> str:
        """An absolute URL for an API path like ``/repos/o/r/pulls``."""
        return path if path.startswith(("http://", "https://")) else self.api_url + path

    def request(
        self,
        method: str,
        path: str,
        *,
        json: t.Any = None,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        essential: bool = False,
        resource: str = "core",
        follow: bool = False,
        stream: bool = False,
    ) -> httpx.Response:
        """Send one request within the budget; retries transient failures.

        Returns the answer whatever its status (callers map 4xx with ``error_for``),
        except rate limits, which raise ``RateLimitError`` once waiting in line would
        take longer than ``maxWait`` seconds. With ``stream`` the body is not read.
        """
        conditional = bool(headers and "If-None-Match" in headers)
        url = self.url(path)
        auth = {"Authorization": f"Bearer {self.token()}"}
        attempt = 0
        while True:
            self.budget.check(resource, conditional=conditional, essential=essential)
            try:
                req = self.http().build_request(
                    method, url, json=json, params=params, headers={**auth, **(headers or {})}
                )
                resp = self.http().send(req, follow_redirects=follow, stream=stream)
            except httpx.TransportError as exc:
                if attempt < self.retries:
                    self.sleep(min(2.0**attempt, 8.0))
                    attempt += 1
                    continue
                raise AoError(
                    f"cannot reach GitHub at {self.host}: {type(exc).__name__}",
                    hint="check the network; ao retries on the next pass",
                ) from None
            self.stats["requests"] += 1
            self.stats[f"{resource}:{resp.status_code}"] += 1
            resource = self.budget.observe(resource, resp.headers)
            wait = self._limited(resp)
            if wait is not None:
                if stream:
                    resp.close()
                if wait <= self.max_wait and attempt < self.retries:
                    self.stats["waits"] += 1
                    self.sleep(wait)
                    attempt += 1
                    continue
                raise self._pause(resp, resource, wait)
            if resp.status_code in RETRY_STATUSES and attempt < self.retries:
                if stream:
                    resp.close()
                self.sleep(min(2.0**attempt, 8.0))
                attempt += 1
                continue
            return resp

    def _limited(self, resp: httpx.Response) -> float | None:
        """Seconds to wait when ``resp`` is a rate-limit refusal, else None."""
        if resp.status_code not in (403, 429):
            return None
        headers = resp.headers
        retry_after = headers.get("retry-after")
        exhausted = headers.get("x-ratelimit-remaining") == "0"
        if resp.status_code == 403 and not (retry_after or exhausted):
            try:
                resp.read()
                if "rate limit" not in resp.text.lower():
                    return None  # a plain permission error
            except httpx.HTTPError:
                return None
        if retry_after and retry_after.strip().isdigit():
            return float(retry_after)
        if exhausted and headers.get("x-ratelimit-reset", "").isdigit():
            return max(float(headers["x-ratelimit-reset"]) - self.clock(), 1.0)
        return 60.0  # GitHub: "wait at least one minute" without other guidance

    def _pause(self, resp: httpx.Response, resource: str, wait: float) -> RateLimitError:
        exhausted = resp.headers.get("x-ratelimit-remaining") == "0"
        key = resource if exhausted and "retry-after" not in resp.headers else SECONDARY
        kind = "primary" if key != SECONDARY else "secondary"
        until = self.clock() + wait
        reason = f"{kind} rate limit ({resp.status_code})"
        self.budget.pause(key, until, reason)
        self.stats["pauses"] += 1
        return RateLimitError(
            f"GitHub {kind} rate limit hit; pausing GitHub calls until {when(until)}",
            until=until,
            hint="ao resumes by itself; nothing was lost",
        )

    def get_json(
        self, path: str, params: Mapping[str, str | int] | None = None, *, what: str = ""
    ) -> t.Any:
        """GET a JSON document with ``If-None-Match``; a 304 is served from the disk cache."""
        url = str(httpx.URL(self.url(path), params=params))
        cached = self.etags.get(url)
        headers = {"If-None-Match": cached["etag"]} if cached and cached.get("etag") else {}
        resp = self.request("GET", url, headers=headers)
        if resp.status_code == 304 and cached is not None:
            self.stats["not_modified"] += 1
            return cached["body"]
        if resp.status_code != 200:
            raise error_for(resp, what or f"GET {path}")
        body = resp.json()
        if resp.headers.get("etag"):
            self.etags.put(url, {"etag": resp.headers["etag"], "body": body})
        return body

    def probe(self, url: str, etag: str | None) -> tuple[bool, str | None]:
        """A conditional GET: (changed, current ETag). 304 means unchanged.

        A 404 is a state too (``MISSING``): a base branch that was deleted stays
        "unchanged" on later passes instead of forcing a fresh query every time.
        """
        sendable = etag if etag and etag != MISSING else None
        resp = self.request("GET", url, headers={"If-None-Match": sendable} if sendable else None)
        if resp.status_code == 304:
            self.stats["not_modified"] += 1
            return False, etag
        if resp.status_code == 404:
            return etag != MISSING, MISSING
        if resp.status_code != 200:
            raise error_for(resp, f"GET {urlsplit(url).path}")
        return True, resp.headers.get("etag")

    def graphql(self, query: str, variables: Mapping[str, t.Any], *, what: str) -> t.Any:
        """Run a GraphQL query; returns its ``data`` or raises an AoError."""
        resp = self.request(
            "POST", self.graphql_url, json={"query": query, "variables": dict(variables)},
            resource="graphql",
        )  # fmt: skip
        self.stats["graphql"] += 1
        if resp.status_code != 200:
            raise error_for(resp, what)
        doc = resp.json()
        errors = doc.get("errors") or []
        for err in errors:
            if err.get("type") == "RATE_LIMITED":
                until = self.clock() + 60.0
                bucket = self.budget.buckets.get("graphql")
                if bucket and bucket["reset"] > self.clock():
                    until = bucket["reset"]
                self.budget.pause("graphql", until, "GraphQL rate limit exhausted")
                raise RateLimitError(
                    f"GitHub GraphQL rate limit exhausted; paused until {when(until)}",
                    until=until,
                )
        if errors:
            first = errors[0]
            msg = " ".join(strip_controls(str(first.get("message", first))).split())[:300]
            cls = NotFoundError if first.get("type") == "NOT_FOUND" else AoError
            raise cls(f"{what}: GitHub GraphQL error ({msg})")
        return doc.get("data") or {}

    def stream_lines(self, path: str, *, max_bytes: int) -> Iterator[str]:
        """Lines of a (possibly redirected) text download, stopping after ``max_bytes``."""
        resp = self.request("GET", path, follow=True, stream=True)
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
