"""What the HTTP notifiers share: a sender with a time budget and retries, option
parsing, secret handling, and text hygiene (``ao_plugins.notifier_http`` describes them).
"""

from __future__ import annotations

import datetime as dt
import difflib
import email.utils
import hashlib
import hmac
import json
import os
import re
import time
import typing as t
from collections.abc import Mapping

import httpx

from ao import __version__
from ao.sdk.contracts import API_VERSION, Notification, Notifier
from ao.sdk.errors import AoError, AuthError
from ao.sdk.redact import redact, register
from ao.sdk.textsafe import strip_controls

SIGNATURE_HEADER = "X-Ao-Signature"
USER_AGENT = f"ao/{__version__}"

_COMMON = ("timeout", "retries", "retryDelay")


# ----------------------------------------------------------------------------- helpers


def redact_url(url: str) -> str:
    """``url`` reduced to scheme and host: webhook paths and queries often hold the token."""
    try:
        parsed = httpx.URL(url)
    except Exception:
        return "<invalid url>"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}/…" if parsed.host else "<invalid url>"


def url_secrets(url: str) -> list[str]:
    """Parts of ``url`` that may be credentials: its path and query and their token-like pieces.

    Servers echo paths in error pages; these are scrubbed from anything ao reports.
    """
    try:
        parsed = httpx.URL(url)
    except Exception:
        return [url]
    path, query = parsed.path, parsed.query.decode("ascii", "replace")
    found = [url, path + (f"?{query}" if query else ""), query]
    # segments that look like ids or tokens (Slack's T0/B0/XXXX, Discord's id/token)
    found += [seg for seg in path.split("/") if len(seg) >= 12 or any(c.isdigit() for c in seg)]
    found += [v for _, v in parsed.params.multi_items() if len(v) >= 4]
    return [f for f in found if len(f) > 1]


def clean(text: str, limit: int | None = None) -> str:
    """Untrusted text without control sequences, cut to ``limit`` characters (with …)."""
    text = strip_controls(text).strip()
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def one_line(text: str, limit: int | None = None) -> str:
    """Like ``clean`` but with newlines and tabs folded into single spaces."""
    return clean(" ".join(strip_controls(text).split()), limit)


def clean_data(value: t.Any) -> t.Any:
    """``value`` with control sequences stripped from every string inside it."""
    if isinstance(value, str):
        return strip_controls(value)
    if isinstance(value, Mapping):
        return {str(k): clean_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_data(v) for v in value]
    return value


_EVENT_TYPE = re.compile(r"[a-z][a-z_]*\.[a-z][a-z_]*")


def event_of(note: Notification) -> str | None:
    """The event type ``note`` is about (``data.event``, e.g. ``ci.failing``), if any."""
    value = note.data.get("event")
    return value if isinstance(value, str) and _EVENT_TYPE.fullmatch(value) else None


def link_of(note: Notification) -> str | None:
    """The http(s) link a notification points at (``data.url`` or ``data.prUrl``), if any."""
    for key in ("url", "prUrl", "pr_url"):
        value = note.data.get(key)
        if isinstance(value, str) and value.startswith(("https://", "http://")):
            return one_line(value)
    return None


def now_iso() -> str:
    """Now in UTC as ISO 8601 with milliseconds and ``Z``."""
    now = dt.datetime.now(dt.UTC)
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sign(secret: str, body: bytes) -> str:
    """The ``X-Ao-Signature`` value of ``body``: ``sha256=`` + hex HMAC-SHA256 with ``secret``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _check_options(kind: str, options: Mapping[str, t.Any], allowed: t.Iterable[str]) -> None:
    known = set(allowed) | set(_COMMON)
    for key in options:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            guess = f"; did you mean {close[0]!r}?" if close else ""
            raise AoError(
                f"{kind} notifier: unknown option {key!r}{guess}",
                hint=f"options: {', '.join(sorted(known))}",
            )


def _url_option(kind: str, options: Mapping[str, t.Any], *keys: str) -> str:
    for key in keys:
        value = options.get(key)
        if value:
            url = str(value)
            if not url.startswith(("https://", "http://")):
                raise AoError(f"{kind} notifier: {key} must be an http(s) URL")
            return url
    raise AoError(f"{kind} notifier needs option {keys[0]!r} (the webhook URL)")


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def secret_option(kind: str, options: Mapping[str, t.Any], *keys: str) -> str | None:
    """The first non-empty of ``options[keys]``, a whole ``${NAME}`` read from the environment.

    ao's config expands ``${NAME}`` when it loads the file; a value that still reads
    ``${NAME}`` (options given some other way) is expanded here. The value is registered
    with ``ao.sdk.redact`` so it never reaches an error, a log or an event. Raises AoError
    when the variable named is not set; None when no key is set.
    """
    for key in keys:
        value = options.get(key)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise AoError(f"{kind} notifier: option {key!r} must be a string")
        value = value.strip()
        ref = _ENV_REF.fullmatch(value)
        if ref:
            name = ref.group(1)
            found = os.environ.get(name, "").strip()
            if not found:
                raise AoError(
                    f"{kind} notifier: option {key!r} is ${{{name}}}, which is not set",
                    hint=f"export {name} in the environment ao runs in",
                )
            register(found, name)
            return found
        register(value)
        return value
    return None


def env_secret(name: str) -> str | None:
    """``$name`` (stripped) registered as a secret, or None when unset or empty."""
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    register(value, name)
    return value


def _number(options: Mapping[str, t.Any], key: str, default: float) -> float:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise AoError(f"option {key!r} must be a number")
    try:
        number = float(value)
    except ValueError:
        raise AoError(f"option {key!r} must be a number, not {value!r}") from None
    if number < 0:
        raise AoError(f"option {key!r} cannot be negative")
    return number


def _retry_after(resp: httpx.Response) -> float | None:
    """Seconds a 429 answer asks us to wait: ``Retry-After`` (seconds or date) or JSON."""
    header = resp.headers.get("retry-after")
    if header:
        try:
            return max(0.0, float(header))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(header)
                return max(0.0, when.timestamp() - time.time())
            except (TypeError, ValueError):
                pass
    try:
        body = resp.json()
    except ValueError:
        return None
    value = body.get("retry_after") if isinstance(body, dict) else None
    return float(value) if isinstance(value, int | float) else None


def _describe(resp: httpx.Response, describe: t.Callable[[httpx.Response], str] | None) -> str:
    """What an error answer says: ``describe(resp)`` when given (and it works), else its body."""
    if describe is not None:
        try:
            return describe(resp)
        except Exception:  # a malformed answer must not hide the status code
            pass
    return resp.text


class _Sender:
    """POST with a total time budget, retries and secret-free error messages."""

    def __init__(self, kind: str, options: Mapping[str, t.Any], *, retries: int) -> None:
        self.kind = kind
        self.timeout = _number(options, "timeout", 10.0) or 10.0
        self.retries = int(_number(options, "retries", retries))
        self.retry_delay = _number(options, "retryDelay", 0.5)

    def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        secrets: t.Iterable[str] = (),
        url_is_secret: bool = True,
        describe: t.Callable[[httpx.Response], str] | None = None,
        auth_hint: str | None = None,
    ) -> httpx.Response:
        """Send ``body`` to ``url``; return the 2xx answer or raise AoError.

        ``url_is_secret`` (webhooks: the path is the token) shows only its scheme and
        host in errors and scrubs its parts; ``describe`` turns an error answer into the
        text reported (default: its body); ``auth_hint``: a 401 or 403 raises AuthError
        with this hint.
        """
        # short values (a 3-letter topic) would mangle the message more than they hide
        hidden = sorted(
            {*(url_secrets(url) if url_is_secret else ()), *(s for s in secrets if len(s) >= 6)},
            key=len,
            reverse=True,
        )
        where = redact_url(url) if url_is_secret else redact(one_line(url, 200))

        def scrub(text: str) -> str:
            for secret in hidden:
                text = text.replace(secret, "***")
            return one_line(text, 200)

        deadline = time.monotonic() + self.timeout
        attempt = 0
        all_headers = {"User-Agent": USER_AGENT, **headers}
        with httpx.Client(follow_redirects=False, trust_env=True) as client:
            while True:
                attempt += 1
                remaining = deadline - time.monotonic()
                wait = self.retry_delay * 2 ** (attempt - 1)
                try:
                    resp = client.post(
                        url, content=body, headers=all_headers, timeout=max(remaining, 0.001)
                    )
                except httpx.TransportError as exc:
                    problem = f"{type(exc).__name__}: {scrub(str(exc)) or 'no detail'}"
                else:
                    if resp.is_success:
                        return resp
                    problem = f"HTTP {resp.status_code}"
                    excerpt = scrub(_describe(resp, describe))
                    if excerpt:
                        problem += f": {excerpt}"
                    if resp.status_code == 429:
                        asked = _retry_after(resp)
                        if asked is not None:
                            wait = asked
                            problem += f" (rate limited; retry after {asked:g}s)"
                    elif resp.status_code < 500:
                        message = f"{self.kind} at {where} rejected the notification: {problem}"
                        if auth_hint and resp.status_code in (401, 403):
                            raise AuthError(message, hint=auth_hint)
                        raise AoError(message)
                left = deadline - time.monotonic()
                if attempt > self.retries or wait >= left:
                    tries = f"{attempt} attempt{'s' if attempt > 1 else ''}"
                    raise AoError(
                        f"{self.kind} at {where} failed after {tries} "
                        f"within {self.timeout:g}s: {problem}"
                    )
                time.sleep(wait)


class _HttpNotifier(Notifier):
    """Shared constructor state of the HTTP notifiers."""

    api_version = API_VERSION
    kind = "http"
    default_retries = 2

    def __init__(self, options: Mapping[str, t.Any]) -> None:
        self.options = dict(options)
        self.sender = _Sender(self.kind, self.options, retries=self.default_retries)

    def _post_json(
        self,
        url: str,
        payload: Mapping[str, t.Any],
        headers: Mapping[str, str] | None = None,
        *,
        secrets: t.Iterable[str] = (),
        url_is_secret: bool = True,
        describe: t.Callable[[httpx.Response], str] | None = None,
        auth_hint: str | None = None,
    ) -> httpx.Response:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)
        return self.sender.post(
            url,
            body.encode("utf-8"),
            {"Content-Type": "application/json", **(headers or {})},
            secrets=secrets,
            url_is_secret=url_is_secret,
            describe=describe,
            auth_hint=auth_hint,
        )
