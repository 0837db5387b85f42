"""Keeping secrets out of everything ao shows or stores: one registry, one ``redact``.

Secret values are registered where ao reads them: every resolved ``${NAME}`` of the
config (``ao.config``) and the token each GitHub, GitLab and Linear client sends.
``redact(text)`` replaces every registered value, and anything shaped like a credential
(``Bearer …``, ``ghp_…``, ``github_pat_…``, ``glpat-…``, ``lin_api_…``, an
``Authorization:``/``PRIVATE-TOKEN:`` header, a URL's password) with ``<redacted>``.

It is applied where text leaves ao: every event (``ao.store.events.append``), the CLI's error
line, and the messages the forge clients build from server answers (a server that
echoes the request's ``Authorization`` header in its error body). Plugins may use it
too: it is one of the small public helpers.
"""

from __future__ import annotations

import re
import threading
import typing as t
from pathlib import Path
from urllib.parse import quote, urlsplit

__all__ = ["MASK", "redact", "redact_data", "register", "registered"]

MASK = "<redacted>"
MIN_LENGTH = 6  # shorter values (a 3-letter team key) would mangle text more than hide it
# ``${NAME}``s that are paths or names, not secrets: masking them would blank out paths
# in every message
NOT_SECRET = frozenset(
    {"HOME", "USER", "LOGNAME", "PWD", "OLDPWD", "SHELL", "TMPDIR", "TMP", "TEMP", "PATH",
     "LANG", "TERM", "HOSTNAME", "EDITOR", "VISUAL", "AO_HOME", "AO_CONFIG"}
)  # fmt: skip

# a credential: at least 8 token characters, one of them a digit (so that words such as
# "Bearer authentication" stay readable)
_CRED = r"(?=[A-Za-z0-9._~+/=-]{8})[A-Za-z._~+/=-]*[0-9][A-Za-z0-9._~+/=-]*"
_SHAPES = (
    # the credential after the scheme word or header name; the word itself stays
    rf"(?P<keep>(?i:\bbearer)\s+){_CRED}",
    rf"(?P<keep2>(?i:\bauthorization|\bprivate-token|\bx-api-key)[\"']?\s*[:=]\s*[\"']?"
    rf"(?:(?i:bearer|token|basic)\s+)?){_CRED}",
    # tokens with a recognisable prefix: GitHub, GitLab, Linear, Slack
    r"\b(?:gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{16,}"
    r"|gl(?:oas|dt|rt|cbt|ptt|ft|imt|agent|soat)-[A-Za-z0-9_-]{16,}"
    r"|lin_(?:api|oauth)_[A-Za-z0-9]{16,}|xox[abposr]-[A-Za-z0-9-]{10,})",
    # the password of a URL (``https://user:secret@host``)
    r"(?P<keep3>[a-z][a-z0-9+.-]*://[^\s:/@]+:)[^\s@/]+(?=@)",
)

_lock = threading.Lock()
_secrets: set[str] = set()
_compiled: re.Pattern[str] | None = None


def _forms(value: str) -> set[str]:
    """``value`` and the forms a server may echo it in (URL-quoted, a URL's parts)."""

    forms = {value, quote(value, safe=""), quote(value)}
    if "://" in value:
        try:
            url = urlsplit(value)
        except ValueError:
            return forms
        # a webhook's path or query is its token; short paths (``/api/v4``) are not
        whole_path = url.path + (f"?{url.query}" if url.query else "")
        parts = {whole_path, *url.path.split("/")}
        forms |= {part for part in parts if len(part) >= 12}
        forms |= {url.query, url.password or ""}
    return {f for f in forms if len(f) >= MIN_LENGTH}


def register(value: str | None, name: str | None = None) -> None:
    """Treat ``value`` (read from ``$name`` if given) as a secret from now on, in this process.

    Values of well-known non-secret variables (``HOME``...), values shorter than six
    characters and existing absolute paths are not registered.
    """
    global _compiled
    if not isinstance(value, str):
        return
    value = value.strip()
    if len(value) < MIN_LENGTH or (name is not None and name in NOT_SECRET):
        return
    if value in _secrets:
        return
    if value.startswith("/") and _exists(value):
        return  # a path (a checkout, a socket): masking it would only confuse messages
    with _lock:
        _secrets.update(_forms(value))
        _compiled = None


def _exists(path: str) -> bool:
    try:
        return Path(path).exists()
    except (OSError, ValueError):
        return False


def registered() -> frozenset[str]:
    """The registered secret values (for tests and diagnostics; never print them)."""
    with _lock:
        return frozenset(_secrets)


def _pattern() -> re.Pattern[str]:
    global _compiled
    with _lock:
        if _compiled is None:
            known = sorted(_secrets, key=len, reverse=True)
            parts = [re.escape(s) for s in known] + list(_SHAPES)
            _compiled = re.compile("|".join(f"(?:{p})" for p in parts))
        return _compiled


def _mask(match: re.Match[str]) -> str:
    keep = match.group("keep") or match.group("keep2") or match.group("keep3") or ""
    return keep + MASK


def redact(text: str) -> str:
    """``text`` with every registered secret and credential-shaped string as ``<redacted>``."""
    if not text:
        return text
    return _pattern().sub(_mask, text)


def redact_data(value: t.Any) -> t.Any:
    """``value`` with ``redact`` applied to every string in it (dict keys included)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_data(k): redact_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(v) for v in value]
    return value
