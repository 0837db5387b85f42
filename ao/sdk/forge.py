"""What the GitHub and GitLab plugins share: the request loop, budgets on disk, CI excerpts.

``ForgeClient`` is the skeleton of both REST clients: options, the connection pool, the
loop every request goes through (budget check, send, retry connection errors and
502/503/504 with backoff, wait out a short rate limit, turn a long one into a persisted
pause), conditional GETs served from the ETag cache on a 304, and streamed downloads.
``BudgetFile`` is the persisted part of a rate-limit budget (load, save, the reserve,
the refusal). Each plugin fills in what differs: endpoints, auth and default headers,
error mapping, how a refusal is recognised and paused, and the shape of its budget
(GitHub keeps a bucket per resource, GitLab one limit). ``LogExcerpt`` is the common end
of both CI-log trimmers. ``httpx`` is imported only where a request is made, so that
importing this module stays cheap.
"""

from __future__ import annotations

import collections
import contextlib
import json
import re
import threading
import time
import typing as t
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from urllib.parse import urlsplit

from ao.sdk.errors import AoError, RateLimitError
from ao.sdk.errors import clock_time as when
from ao.sdk.gitref import slugify, validate_branch
from ao.sdk.httpcache import DiskCache, write_atomic
from ao.sdk.redact import redact, register
from ao.sdk.textsafe import strip_controls

if t.TYPE_CHECKING:
    import httpx

    from ao.sdk.contracts import Issue

RETRY_STATUSES = (502, 503, 504)

# ---------------------------------------------------------------------- text


def one_line(text: str) -> str:
    """Untrusted server text as one line without control or escape sequences.

    Known secrets and credential-shaped strings are redacted (``ao.sdk.redact``): servers
    echo the request's ``Authorization`` header in error bodies.
    """
    return redact(" ".join(strip_controls(text).split()))


def clip(text: str, limit: int = 300) -> str:
    """``text`` cut to at most ``limit`` characters, an ellipsis marking the cut."""
    return text[: limit - 1] + "…" if len(text) > limit else text


def message_of(resp: httpx.Response, extract: Callable[[t.Any], str], limit: int = 300) -> str:
    """The error message of an answer as safe one-line text.

    ``extract`` picks the message from the decoded JSON body; a body that is not JSON
    is taken as text, and an empty message falls back to the HTTP reason phrase.
    """
    try:
        text = extract(resp.json())
    except ValueError:
        text = resp.text
    return clip(one_line(text), limit) or resp.reason_phrase


ErrorRules = Mapping[int, tuple[type[AoError], str | None]]  # status -> (error class, hint)


def answer_error(
    resp: httpx.Response, what: str, *, forge: str, message: str, rules: ErrorRules
) -> AoError:
    """The AoError for a failed answer to ``what``, as ``rules`` map its status.

    A status without a rule is a plain AoError that blames the forge (ao retries).
    """
    status = resp.status_code
    detail = redact(f"{what}: {forge} answered {status} ({message})")
    cls, hint = rules.get(
        status, (AoError, f"{forge} may be having trouble; ao retries on the next pass")
    )
    return cls(detail, hint=hint)


# ---------------------------------------------------------------------- budgets


def read_limits(headers: Mapping[str, str], prefix: str) -> dict[str, float] | None:
    """``limit``, ``remaining`` and ``reset`` from the ``<prefix>…`` headers, if all parse."""
    try:
        return {
            "limit": float(headers[prefix + "limit"]),
            "remaining": float(headers[prefix + "remaining"]),
            "reset": float(headers[prefix + "reset"]),
        }
    except (KeyError, ValueError):
        return None


class BudgetFile:
    """A rate-limit budget kept in a JSON file for the next process, with a reserve.

    Subclasses hold the limits and pauses in their own shape (``_restore`` and
    ``_dump`` map it to and from the file) and decide in ``check`` what blocks a request.
    """

    forge = ""  # the service's name in messages

    def __init__(self, path: Path | None, *, reserve: float, clock: Callable[[], float]) -> None:
        self.path = path
        self.reserve = min(max(reserve, 0.0), 0.9)
        self.clock = clock
        self._lock = threading.Lock()
        self._load()

    def _restore(self, doc: t.Any) -> None:
        raise NotImplementedError

    def _dump(self) -> dict[str, t.Any]:
        raise NotImplementedError

    def _load(self) -> None:
        if self.path is None:
            return
        with contextlib.suppress(OSError, ValueError, TypeError, AttributeError, IndexError):
            self._restore(json.loads(self.path.read_text(encoding="utf-8")))

    def save(self) -> None:
        """Write the budget for the next process (best effort)."""
        if self.path is None:
            return
        with self._lock:
            doc = self._dump()
        with contextlib.suppress(OSError):
            write_atomic(self.path, json.dumps(doc))

    def _over_reserve(
        self, limits: Mapping[str, float] | None, now: float, what: str
    ) -> tuple[float, str] | None:
        """(until, reason) when ``limits`` are down to the reserve before they reset."""
        if not limits:
            return None
        total, remaining, reset = limits["limit"], limits["remaining"], limits["reset"]
        if reset > now and remaining <= total * self.reserve:
            return reset, (
                f"{what} down to {remaining:.0f}/{total:.0f} "
                f"(keeping {self.reserve:.0%} in reserve)"
            )
        return None

    def _refuse(self, blocked: tuple[float, str] | None) -> None:
        """Raise ``RateLimitError`` for a ``(until, reason)`` block, if there is one."""
        if blocked is not None:
            raise RateLimitError(
                f"{self.forge} API paused until {when(blocked[0])}: {blocked[1]}",
                until=blocked[0],
                hint="ao resumes by itself after that; explicit commands may use the reserve",
            )


# ---------------------------------------------------------------------- the client


def backoff(attempt: int) -> float:
    """Seconds to wait before retry number ``attempt + 1`` of a transient failure."""
    return min(2.0**attempt, 8.0)


class ForgeClient:
    """One forge endpoint: options, connection pool, the request loop and ETag GETs.

    Subclasses set ``budget`` and implement ``host``, ``token``, ``_client_options``,
    ``_auth``, ``_check``, ``_observe``, ``_limited``, ``_pause`` and ``_error_for``.
    """

    forge = ""  # the service's name in messages
    unreachable_hint = "check the network; ao retries on the next pass"
    default_resource = ""  # the rate-limit resource of a request that names none
    follow_downloads = False  # whether ``stream_lines`` follows redirects
    api_url = ""  # the base of API paths, set by the subclass
    budget: BudgetFile

    def __init__(
        self,
        options: Mapping[str, t.Any],
        root: Path,
        *,
        clock: Callable[[], float] | None,
        sleep: Callable[[float], None] | None,
        transport: httpx.BaseTransport | None,
    ) -> None:
        self.options = dict(options)
        self.clock = clock or time.time
        self.sleep = sleep or time.sleep
        self.timeout = float(self.options.get("timeout", 30.0))
        self.retries = int(self.options.get("retries", 2))
        self.max_wait = float(self.options.get("maxWait", 10.0))  # longest in-line wait
        self.root = root
        self.etags = DiskCache(root, "etag")
        self.stats: collections.Counter[str] = collections.Counter()  # for tests and reports
        self._transport = transport
        self._http: httpx.Client | None = None
        self._token: str | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ per forge

    @property
    def host(self) -> str:
        """The host name for messages."""
        raise NotImplementedError

    def token(self) -> str:
        """The API token (found once, then kept)."""
        raise NotImplementedError

    def _client_options(self) -> dict[str, t.Any]:
        raise NotImplementedError

    def _auth(self, token: str) -> dict[str, str]:
        raise NotImplementedError

    def _check(self, resource: str, *, conditional: bool, essential: bool) -> None:
        raise NotImplementedError

    def _observe(self, resource: str, resp: httpx.Response) -> str:
        """Count the answer and record its limits; returns the resource they were for."""
        raise NotImplementedError

    def _limited(self, resp: httpx.Response) -> float | None:
        """Seconds to wait when ``resp`` is a rate-limit refusal, else None."""
        raise NotImplementedError

    def _pause(self, resp: httpx.Response, resource: str, wait: float) -> RateLimitError:
        raise NotImplementedError

    def _error_for(self, resp: httpx.Response, what: str) -> AoError:
        raise NotImplementedError

    # ------------------------------------------------------------------ shared

    def http(self) -> httpx.Client:
        """The shared connection pool (thread-safe), created on first use."""
        import httpx  # lazy: httpx loads only when a forge is called

        with self._lock:
            if self._http is None:
                self._http = httpx.Client(
                    timeout=self.timeout, transport=self._transport, **self._client_options()
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

    def url(self, path: str) -> str:
        """The absolute URL of an API path (absolute URLs pass through)."""
        return path if path.startswith(("http://", "https://")) else self.api_url + path

    def _send(
        self,
        method: str,
        url: str,
        *,
        json: t.Any = None,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        essential: bool = False,
        resource: str | None = None,
        follow: bool = False,
        stream: bool = False,
    ) -> httpx.Response:
        """Send one request within the budget; retries transient failures.

        Returns the answer whatever its status, except rate limits, which raise
        ``RateLimitError`` once waiting in line would take longer than ``maxWait``
        seconds. With ``stream`` the body is not read.
        """
        import httpx  # lazy: httpx loads only when a forge is called

        resource = self.default_resource if resource is None else resource
        conditional = bool(headers and "If-None-Match" in headers)
        token = self.token()
        register(token)  # from now on, no message or event of this process shows it
        sent = {**self._auth(token), **(headers or {})}
        attempt = 0
        while True:
            self._check(resource, conditional=conditional, essential=essential)
            try:
                req = self.http().build_request(method, url, json=json, params=params, headers=sent)
                resp = self.http().send(req, follow_redirects=follow, stream=stream)
            except httpx.TransportError as exc:
                if attempt < self.retries:
                    self.sleep(backoff(attempt))
                    attempt += 1
                    continue
                raise AoError(
                    f"cannot reach {self.forge} at {self.host}: {type(exc).__name__}",
                    hint=self.unreachable_hint,
                ) from None
            self.count("requests")
            resource = self._observe(resource, resp)
            wait = self._limited(resp)
            if wait is not None:
                if stream:
                    resp.close()
                if wait <= self.max_wait and attempt < self.retries:
                    self.count("waits")
                    self.sleep(wait)
                    attempt += 1
                    continue
                self.count("pauses")
                raise self._pause(resp, resource, wait)
            if resp.status_code in RETRY_STATUSES and attempt < self.retries:
                if stream:
                    resp.close()
                self.sleep(backoff(attempt))
                attempt += 1
                continue
            return resp

    def _get_cached(
        self,
        url: str,
        what: str,
        extra: Callable[[httpx.Response], dict[str, t.Any]] | None = None,
    ) -> dict[str, t.Any]:
        """GET ``url`` with ``If-None-Match``: its cache entry (``etag``, ``body``, ``extra``).

        A 304 is served from the disk cache; a 200 with an ETag is stored for next time.
        """
        cached = self.etags.get(url)
        headers = {"If-None-Match": cached["etag"]} if cached and cached.get("etag") else {}
        resp = self._send("GET", url, headers=headers)
        if resp.status_code == 304 and cached is not None:
            self.count("not_modified")
            return t.cast(dict[str, t.Any], cached)
        if resp.status_code != 200:
            raise self._error_for(resp, what)
        entry = {"etag": resp.headers.get("etag"), "body": resp.json()}
        entry |= extra(resp) if extra else {}
        if resp.headers.get("etag"):
            self.etags.put(url, entry)
        return entry

    def stream_lines(self, path: str, *, max_bytes: int) -> Iterator[str]:
        """Lines of a text download, stopping after ``max_bytes``."""
        import httpx  # lazy: httpx loads only when a forge is called

        resp = self._send("GET", self.url(path), follow=self.follow_downloads, stream=True)
        try:
            if resp.status_code != 200:
                resp.read()
                raise self._error_for(resp, f"GET {urlsplit(self.url(path)).path}")
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


# ---------------------------------------------------------------------- issues


def label_names(labels: Iterable[t.Any] | None) -> tuple[str, ...]:
    """Label names from a list of label objects (``{"name": …}``) or plain strings."""
    return tuple(
        str(label.get("name") if isinstance(label, dict) else label) for label in labels or []
    )


def issue_branch(prefix: str, issue: Issue) -> str:
    """``<prefix>/issue-123-short-title``: a git-safe branch for work on ``issue``."""

    number = re.sub(r"[^0-9A-Za-z]+", "-", issue.id).strip("-") or "x"
    slug = slugify(issue.title, max_len=40)
    return validate_branch(f"{prefix}/issue-{number}" + (f"-{slug}" if slug != "task" else ""))


# ---------------------------------------------------------------------- CI logs

_FAILURE_STARTS = (
    r"FAILED |FAIL[: ]|ERROR[: ]|Error: |error(?:\[E\d+\])?: |E {3}|--- FAIL: |"
    r"not ok \d|\s*[✗✕×✖] |\s*\d+\) |thread '.*' panicked at |panic: |"
    r"AssertionError|Traceback \(most recent call last\)"
)
_FAILURE_ANYWHERE = r"\b(?:\d+ failed|failures?:|Tests?:\s+\d+ failed)"


def failure_pattern(*starts: str) -> re.Pattern[str]:
    """What marks a line naming a failing test or an error (pytest, unittest, jest, go,
    cargo, mocha, tsc/eslint…), plus the forge's own line ``starts`` (regexes)."""
    alternatives = "|".join((*starts, _FAILURE_STARTS))
    return re.compile(rf"^(?:{alternatives})|{_FAILURE_ANYWHERE}", re.IGNORECASE)


class LogExcerpt:
    """The lines of a CI log worth showing: failures seen anywhere and the last ``tail``."""

    def __init__(self, failure: re.Pattern[str], *, max_failures: int, tail: int) -> None:
        self.failure = failure
        self.max_failures = max_failures
        self.failures: list[str] = []
        self.last: collections.deque[str] = collections.deque(maxlen=tail)
        self._seen: set[str] = set()

    def add(self, line: str) -> None:
        """Take one cleaned script line (noise already dropped by the caller)."""
        self.last.append(line)
        key = line.strip()
        if (
            self.failure.search(key)
            and key not in self._seen
            and len(self.failures) < self.max_failures
        ):
            self._seen.add(key)
            self.failures.append(line)

    def text(self, end: list[str], max_chars: int) -> str:
        """The failures not already in ``end`` (the log's last lines), then ``end``."""
        tail_set = set(end)
        failures = [f for f in self.failures if f not in tail_set]
        parts = []
        if failures:
            parts.append("Failures:\n" + "\n".join(failures))
        if end:
            parts.append(("Last lines:\n" if failures else "") + "\n".join(end))
        text = "\n\n".join(parts)
        if len(text) > max_chars:
            # keep the start of the failure list and the very end of the log
            head = text[: max_chars // 3].rsplit("\n", 1)[0]
            rest = text[-(max_chars - len(head) - 5) :].split("\n", 1)[-1]
            text = f"{head}\n…\n{rest}"
        return text
