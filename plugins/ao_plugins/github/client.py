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
import typing as t
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

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
from ao.sdk.forge import ErrorRules, ForgeClient, answer_error, one_line
from ao.sdk.forge import message_of as forge_message
from ao.sdk.httpcache import cache_root
from ao_plugins.github.budget import SECONDARY, RateBudget

DEFAULT_API = "https://api.github.com"
API_VERSION_HEADER = "2022-11-28"
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


def _github_text(doc: t.Any) -> str:
    if not isinstance(doc, dict):
        return ""
    text = str(doc.get("message") or "")
    errors = doc.get("errors")
    if isinstance(errors, list) and errors:
        details = [str(e.get("message") or e.get("code") or e) for e in errors if e]
        text = f"{text}: {'; '.join(details)}" if text else "; ".join(details)
    return text


def message_of(resp: httpx.Response, limit: int = 300) -> str:
    """GitHub's error message from an answer, as safe one-line text."""
    return forge_message(resp, _github_text, limit)


_ERRORS: ErrorRules = {
    401: (AuthError, "check GITHUB_TOKEN / GH_TOKEN or `gh auth status`"),
    403: (AoError, "the token lacks permission for this repository"),
    404: (NotFoundError, "check the repository name and the token's access"),
    405: (ConflictError, None),
    409: (ConflictError, None),
    422: (UsageError, None),
}


def error_for(resp: httpx.Response, what: str) -> AoError:
    """The AoError for a failed answer to ``what`` (e.g. ``merge of #7``)."""
    return answer_error(resp, what, forge="GitHub", message=message_of(resp), rules=_ERRORS)


class GitHubClient(ForgeClient):
    """One GitHub endpoint (github.com or Enterprise) with its token, cache and budget."""

    forge = "GitHub"
    default_resource = "core"
    follow_downloads = True  # job logs redirect to blob storage
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
        api_url, self.graphql_url = api_urls(opts)
        root = cache_root("github", api_url)
        super().__init__(opts, root, clock=clock, sleep=sleep, transport=transport)
        self.api_url = api_url
        self.budget = RateBudget(
            root / "ratelimit.json", reserve=float(opts.get("reserve", 0.2)), clock=self.clock
        )
        self._token = opts.get("token") if isinstance(opts.get("token"), str) else None

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
            from ao.sdk.proc import run

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

    def _client_options(self) -> dict[str, t.Any]:
        return {
            "headers": {
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION_HEADER,
                "User-Agent": f"ao/{__version__}",
            }
        }

    def _auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    # ------------------------------------------------------------------ requests

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
        return self._send(
            method, self.url(path), json=json, params=params, headers=headers,
            essential=essential, resource=resource, follow=follow, stream=stream,
        )  # fmt: skip

    def _check(self, resource: str, *, conditional: bool, essential: bool) -> None:
        self.budget.check(resource, conditional=conditional, essential=essential)

    def _observe(self, resource: str, resp: httpx.Response) -> str:
        self.count(f"{resource}:{resp.status_code}")
        return self.budget.observe(resource, resp.headers)

    def _error_for(self, resp: httpx.Response, what: str) -> AoError:
        return error_for(resp, what)

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
        return self._get_cached(url, what or f"GET {path}")["body"]

    def probe(self, url: str, etag: str | None) -> tuple[bool, str | None]:
        """A conditional GET: (changed, current ETag). 304 means unchanged.

        A 404 is a state too (``MISSING``): a base branch that was deleted stays
        "unchanged" on later passes instead of forcing a fresh query every time.
        """
        sendable = etag if etag and etag != MISSING else None
        resp = self.request("GET", url, headers={"If-None-Match": sendable} if sendable else None)
        if resp.status_code == 304:
            self.count("not_modified")
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
        self.count("graphql")
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
            msg = one_line(str(first.get("message", first)))[:300]
            cls = NotFoundError if first.get("type") == "NOT_FOUND" else AoError
            raise cls(f"{what}: GitHub GraphQL error ({msg})")
        return doc.get("data") or {}
