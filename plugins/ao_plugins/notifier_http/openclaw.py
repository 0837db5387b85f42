"""The ``openclaw`` notifier: hands a notification to an OpenClaw gateway's agent hook.

OpenClaw (https://docs.openclaw.ai, "Inbound webhooks") runs an agent turn for each
``POST <gateway>/hooks/agent`` carrying ``Authorization: Bearer <hooks.token>`` and a
JSON body ``{message, name, sessionKey, wakeMode, deliver, ...}``; the agent then
replies on the user's channel (``deliver``). ao sends:

- ``message``: the notification's title, a blank line, its body (control sequences
  stripped);
- ``name``: ``"ao"`` (option ``name``);
- ``sessionKey``: ``hook:ao:<project>:<session>`` (``hook:ao:<project>``, ``hook:ao``
  when the notification has no session or project), so each ao session talks to one
  OpenClaw session. Option ``sessionKeyPrefix`` changes ``hook:ao:``; ``sessionKey`` set
  to a string sends that fixed key, ``false`` sends none. OpenClaw accepts a key only
  with ``hooks.allowRequestSessionKey: true`` and a matching
  ``hooks.allowedSessionKeyPrefixes`` entry (``hook:``);
- ``wakeMode``: ``now`` or ``next-heartbeat`` (default ``now``);
- ``deliver``: default true; ``channel``, ``to`` and ``agentId`` only when set.

The token, first found wins: option ``token`` (``${OPENCLAW_HOOKS_TOKEN}`` or any
``${NAME}``), the environment's ``OPENCLAW_HOOKS_TOKEN``, ``hooks.token`` in OpenClaw's
own config (``$OPENCLAW_CONFIG_PATH``, else ``~/.openclaw/openclaw.json``). It is looked
up at send time: a missing or unreadable file is an error naming the file, never a
request without credentials. It is registered with ``ao.sdk.redact`` and scrubbed from
every error, so no message, log line or event carries it.

Retries, the time budget and error reporting are the other HTTP notifiers' (``timeout``,
``retries``, ``retryDelay``): connection errors, 5xx and 429 are retried, a 4xx fails at
once (401/403 as an AuthError saying where the token came from).
"""

from __future__ import annotations

import json
import os
import re
import typing as t
from collections.abc import Mapping
from pathlib import Path

from ao.sdk.contracts import Notification
from ao.sdk.errors import AoError, ConfigError
from ao.sdk.redact import register

from .base import (
    _check_options,
    _HttpNotifier,
    _url_option,
    clean,
    env_secret,
    one_line,
    secret_option,
)

DEFAULT_URL = "http://127.0.0.1:18789/hooks/agent"
DEFAULT_PREFIX = "hook:ao:"
TOKEN_ENV = "OPENCLAW_HOOKS_TOKEN"
CONFIG_ENV = "OPENCLAW_CONFIG_PATH"
WAKE_MODES = ("now", "next-heartbeat")
MAX_CONFIG_BYTES = 4 * 1024 * 1024
MESSAGE_LIMIT = 16000  # well under the gateway's default hooks.maxBodyBytes (256 KiB)

_KEY_PART = re.compile(r"[^A-Za-z0-9_-]+")
# JSON5 as OpenClaw documents its config: comments, trailing commas, bare keys. Strings
# are matched first so that nothing inside one is touched.
_STRING = r'"(?:\\.|[^"\\])*"'
_COMMENT = re.compile(rf"({_STRING})|//[^\n]*|/\*.*?\*/", re.DOTALL)
_TRAILING_COMMA = re.compile(rf"({_STRING})|,(?=\s*[}}\]])")
_BARE_KEY = re.compile(rf"({_STRING})|(?<=[{{,])(\s*)([A-Za-z_$][A-Za-z0-9_$]*)(?=\s*:)")


def default_config_path() -> Path:
    """OpenClaw's config file: ``$OPENCLAW_CONFIG_PATH``, else ``~/.openclaw/openclaw.json``."""
    configured = os.environ.get(CONFIG_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".openclaw" / "openclaw.json"


def _loose_json(text: str) -> t.Any:
    """``text`` parsed as JSON, else as JSON with comments, trailing commas and bare keys.

    Raises the strict parser's ValueError when neither reading works.
    """
    try:
        return json.loads(text)
    except ValueError as strict:
        loose = _COMMENT.sub(lambda m: m.group(1) or "", text)
        loose = _TRAILING_COMMA.sub(lambda m: m.group(1) or "", loose)
        loose = _BARE_KEY.sub(lambda m: m.group(1) or f'{m.group(2)}"{m.group(3)}"', loose)
        try:
            return json.loads(loose)
        except ValueError:
            raise strict from None


def token_from_config(path: Path) -> str:
    """``hooks.token`` of OpenClaw's config file at ``path``; AoError naming the file if not."""
    hint = (
        f"set the notifier's 'token' option (e.g. ${{{TOKEN_ENV}}}), export {TOKEN_ENV}, "
        f"or set hooks.token in {path}"
    )
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise AoError(
            f"openclaw notifier has no hook token: no 'token' option, no {TOKEN_ENV}, "
            f"and {path} does not exist",
            hint=hint,
        ) from None
    except OSError as exc:
        raise AoError(
            f"openclaw notifier cannot read {path}: {exc.strerror or type(exc).__name__}",
            hint=hint,
        ) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise AoError(f"openclaw notifier: {path} is larger than 4 MiB; not reading it", hint=hint)
    try:
        data = _loose_json(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise AoError(f"openclaw notifier: {path} is not UTF-8 text", hint=hint) from None
    except json.JSONDecodeError as exc:
        # the position only: the parser's message never quotes the file, and neither do we
        raise AoError(
            f"openclaw notifier: {path} is not valid JSON "
            f"(line {exc.lineno}, column {exc.colno}: {exc.msg})",
            hint=hint,
        ) from None
    hooks = data.get("hooks") if isinstance(data, dict) else None
    token = hooks.get("token") if isinstance(hooks, dict) else None
    if not isinstance(token, str) or not token.strip():
        raise AoError(f"openclaw notifier: {path} has no hooks.token", hint=hint)
    value = token.strip()
    ref = re.fullmatch(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", value)
    if ref:  # OpenClaw's config substitutes ${NAME} too
        name = ref.group(1)
        found = env_secret(name)
        if found is None:
            raise AoError(
                f"openclaw notifier: hooks.token in {path} is ${{{name}}}, which is not set",
                hint=hint,
            )
        return found
    register(value)
    return value


def session_key(prefix: str, note: Notification) -> str:
    """A stable OpenClaw session key for ``note``: ``<prefix><project>:<session>``."""
    parts = [
        _KEY_PART.sub("-", part).strip("-")[:80]
        for part in (note.project, note.session)
        if part and _KEY_PART.sub("-", part).strip("-")
    ]
    return prefix + ":".join(parts) if parts else prefix.rstrip(":")


class OpenClawNotifier(_HttpNotifier):
    """Wakes an OpenClaw agent through the gateway's ``/hooks/agent`` webhook.

    Options: ``url`` (default ``http://127.0.0.1:18789/hooks/agent``), ``token``,
    ``name`` (default ``ao``), ``sessionKey`` (true: per ao session; false: none; a
    string: that key), ``sessionKeyPrefix`` (default ``hook:ao:``), ``wakeMode``
    (``now``/``next-heartbeat``), ``deliver`` (default true), ``channel``, ``to``,
    ``agentId``, and the common ``timeout``, ``retries``, ``retryDelay``.
    """

    kind = "openclaw"

    def __init__(self, options: Mapping[str, t.Any]) -> None:
        _check_options(
            "openclaw",
            options,
            (
                "url", "token", "name", "sessionKey", "sessionKeyPrefix", "wakeMode",
                "deliver", "channel", "to", "agentId",
            ),
        )  # fmt: skip
        super().__init__(options)
        self.url = _url_option("openclaw", {"url": options.get("url") or DEFAULT_URL}, "url")
        self.name = str(options.get("name") or "ao")
        wake = options.get("wakeMode", "now")
        if wake not in WAKE_MODES:
            raise ConfigError(
                f"openclaw notifier: wakeMode must be one of {', '.join(WAKE_MODES)}, not {wake!r}"
            )
        self.wake_mode = str(wake)
        deliver = options.get("deliver", True)
        if not isinstance(deliver, bool):
            raise ConfigError("openclaw notifier: deliver must be true or false")
        self.deliver = deliver
        key = options.get("sessionKey", True)
        if not isinstance(key, bool | str) or key == "":
            raise ConfigError(
                "openclaw notifier: sessionKey must be true (one per ao session), "
                "false (none) or a fixed key"
            )
        self.fixed_key: str | None = key if isinstance(key, str) else None
        self.send_key = key is not False
        prefix = options.get("sessionKeyPrefix", DEFAULT_PREFIX)
        if not isinstance(prefix, str) or not prefix.strip():
            raise ConfigError("openclaw notifier: sessionKeyPrefix must be a non-empty string")
        self.prefix = prefix.strip()
        self.extra = {
            key: str(options[key]) for key in ("channel", "to", "agentId") if options.get(key)
        }

    def token(self) -> tuple[str, str]:
        """The hook token and where it came from; AoError when there is none."""
        found = secret_option("openclaw", self.options, "token")
        if found:
            return found, "the notifier's 'token' option"
        found = env_secret(TOKEN_ENV)
        if found:
            return found, f"${TOKEN_ENV}"
        path = default_config_path()
        return token_from_config(path), f"hooks.token in {path}"

    def payload(self, note: Notification) -> dict[str, t.Any]:
        """The JSON body posted for ``note``."""
        title = one_line(note.title, 300)
        body = clean(note.message)
        message = clean(f"{title}\n\n{body}" if body else title, MESSAGE_LIMIT) or "ao"
        payload: dict[str, t.Any] = {"message": message, "name": self.name}
        if self.send_key:
            payload["sessionKey"] = self.fixed_key or session_key(self.prefix, note)
        payload["wakeMode"] = self.wake_mode
        payload["deliver"] = self.deliver
        payload.update(self.extra)
        return payload

    def notify(self, note: Notification) -> None:
        """Post ``note`` to the gateway's agent hook."""
        token, source = self.token()
        self._post_json(
            self.url,
            self.payload(note),
            {"Authorization": f"Bearer {token}"},
            secrets=[token],
            url_is_secret=False,
            auth_hint=f"the gateway refused the hook token from {source}; it must equal "
            "the gateway's hooks.token",
        )
