"""The ``composio`` notifier: sends through a Slack, Discord or Gmail account connected to
Composio, by executing one Composio tool over its REST API (plain httpx, no SDK).

The request is Composio's v3 "Execute tool" endpoint as documented at
https://docs.composio.dev/api-reference/tools/post-tools-execute-by-tool-slug::

    POST {baseUrl}/tools/execute/{TOOL_SLUG}       baseUrl default https://backend.composio.dev/api/v3
    x-api-key: <project API key>
    {"arguments": {...}, "user_id": "default", "version": "latest",
     "connected_account_id": "ca_..."}             (the last only when configured)

and the answer ``{"data", "error", "successful", "log_id"}``: a 200 with ``successful:
false`` (the tool ran and Slack refused, say) is a failure too, not retried. Errors come
as ``{"error": {"message", "status", "request_id", "suggested_fix"}}``: ao reports the
message and the suggested fix. (Composio now also serves v3.1 at ``/api/v3.1``, v3
"remains supported"; set ``baseUrl`` to use it.)

Option ``app`` picks the tool and how a notification becomes its arguments:

=========  ==========================  ==============================================
app        tool (option ``toolSlug``)   arguments
=========  ==========================  ==============================================
slack      ``SLACK_SEND_MESSAGE``        ``channel`` (option ``channel``), ``text``
discord    ``DISCORDBOT_CREATE_MESSAGE`` ``channel_id`` (option ``channel``), ``content``
gmail      ``GMAIL_SEND_EMAIL``          ``recipient_email`` (option ``to``), ``subject``,
                                         ``body``
=========  ==========================  ==============================================

Option ``arguments`` (a mapping) is merged over these, for a tool whose schema differs.
The API key, first found wins: option ``composioApiKey`` or ``apiKey`` (``${NAME}``
allowed), else ``$COMPOSIO_API_KEY``; looked up at send time, registered with
``ao.sdk.redact`` and scrubbed from every error.
"""

from __future__ import annotations

import typing as t
import urllib.parse
from collections.abc import Mapping

import httpx

from ao.sdk.contracts import Notification
from ao.sdk.errors import AoError, ConfigError
from ao.sdk.redact import redact

from .base import (
    _check_options,
    _HttpNotifier,
    _url_option,
    clean,
    env_secret,
    link_of,
    one_line,
    secret_option,
)
from .slack import _slack_escape

DEFAULT_BASE_URL = "https://backend.composio.dev/api/v3"
KEY_ENV = "COMPOSIO_API_KEY"
TOOLS = {
    "slack": "SLACK_SEND_MESSAGE",
    "discord": "DISCORDBOT_CREATE_MESSAGE",
    "gmail": "GMAIL_SEND_EMAIL",
}
DISCORD_LIMIT = 2000  # Discord's limit on a message's content
ZWSP = "\u200b"


def _context(note: Notification) -> str:
    parts: list[str] = [note.priority]
    if note.session:
        parts.append(f"session {one_line(note.session, 80)}")
    if note.project:
        parts.append(f"project {one_line(note.project, 80)}")
    return " · ".join(parts)


def _discord_quiet(text: str) -> str:
    """``text`` that cannot ping: ``@everyone``, ``@here`` and ``<@id>`` mentions broken."""
    return text.replace("@", "@" + ZWSP)


def composio_error(resp: httpx.Response) -> str:
    """The text of a Composio error answer: its message, suggested fix and request id."""
    body = resp.json()
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, str):
        return error
    if not isinstance(error, dict):
        message = body.get("message") if isinstance(body, dict) else None
        return str(message) if message else resp.text
    text = str(error.get("message") or "").strip() or resp.text
    if error.get("suggested_fix"):
        text += f" (suggested fix: {error['suggested_fix']})"
    if error.get("request_id"):
        text += f" [request {error['request_id']}]"
    return text


class ComposioNotifier(_HttpNotifier):
    """Sends notifications as a Slack message, a Discord message or an email via Composio.

    Options: ``app`` (slack, discord or gmail; default slack), ``channel`` (slack and
    discord), ``to`` and ``subject`` (gmail), ``composioApiKey``/``apiKey``, ``userId``
    (default ``default``), ``connectedAccountId``, ``toolSlug``, ``version`` (the
    toolkit version; default ``latest``), ``arguments``, ``baseUrl``, and the common
    ``timeout``, ``retries``, ``retryDelay``.
    """

    kind = "composio"

    def __init__(self, options: Mapping[str, t.Any]) -> None:
        _check_options(
            "composio",
            options,
            (
                "app", "channel", "to", "subject", "composioApiKey", "apiKey", "userId",
                "connectedAccountId", "toolSlug", "version", "arguments", "baseUrl",
            ),
        )  # fmt: skip
        super().__init__(options)
        app = str(options.get("app") or "slack").lower()
        if app not in TOOLS:
            raise ConfigError(
                f"composio notifier: app must be one of {', '.join(TOOLS)}, not {app!r}"
            )
        self.app = app
        self.tool = str(options.get("toolSlug") or TOOLS[app])
        if not self.tool.replace("_", "").isalnum():
            raise ConfigError(f"composio notifier: toolSlug {self.tool!r} is not a tool slug")
        self.channel = str(options.get("channel") or "")
        self.to = str(options.get("to") or "")
        if app in ("slack", "discord") and not self.channel:
            what = "a channel id or #name" if app == "slack" else "a channel id"
            raise ConfigError(f"composio notifier with app {app} needs option 'channel' ({what})")
        if app == "gmail" and "@" not in self.to:
            raise ConfigError("composio notifier with app gmail needs option 'to' (an address)")
        extra = options.get("arguments") or {}
        if not isinstance(extra, Mapping):
            raise ConfigError("composio notifier: arguments must be a mapping")
        self.extra = dict(extra)
        base = _url_option("composio", {"baseUrl": options.get("baseUrl") or DEFAULT_BASE_URL},
                           "baseUrl")  # fmt: skip
        self.url = f"{base.rstrip('/')}/tools/execute/{urllib.parse.quote(self.tool)}"
        self.user_id = str(options.get("userId") or "default")
        self.account = str(options.get("connectedAccountId") or "")
        self.version = str(options.get("version") or "latest")

    def api_key(self) -> tuple[str, str]:
        """The API key and where it came from; AoError when there is none."""
        found = secret_option("composio", self.options, "composioApiKey", "apiKey")
        if found:
            return found, "the notifier's composioApiKey/apiKey option"
        found = env_secret(KEY_ENV)
        if found:
            return found, f"${KEY_ENV}"
        raise AoError(
            f"composio notifier has no API key: no composioApiKey/apiKey option and no {KEY_ENV}",
            hint=f"export {KEY_ENV}, or set composioApiKey: ${{{KEY_ENV}}} on the notifier",
        )

    def arguments(self, note: Notification) -> dict[str, t.Any]:
        """The tool's arguments for ``note``."""
        title = one_line(note.title, 250) or "ao"
        message = clean(note.message)
        link = link_of(note)
        args: dict[str, t.Any]
        if self.app == "slack":
            lines = [f"*{_slack_escape(title)}*"]
            if message:
                lines.append(_slack_escape(message, 3500))
            lines.append(f"_{_slack_escape(_context(note))}_")
            if link:
                lines.append(_slack_escape(link))
            args = {"channel": self.channel, "text": "\n".join(lines)}
        elif self.app == "discord":
            tail = [f"*{_context(note)}*"] + ([f"<{link}>"] if link else [])
            head = f"**{title}**"
            room = DISCORD_LIMIT - len(head) - sum(len(x) + 1 for x in tail) - 1
            body = [clean(message, room)] if message and room > 20 else []
            content = _discord_quiet("\n".join([head, *body, *tail]))
            if len(content) > DISCORD_LIMIT:  # the mention breakers made it longer
                content = content[: DISCORD_LIMIT - 1] + "…"
            args = {"channel_id": self.channel, "content": content}
        else:
            subject = one_line(self.options.get("subject") or f"[ao] {title}", 200)
            body = [message] if message else []
            body.append(_context(note))
            if link:
                body.append(link)
            args = {"recipient_email": self.to, "subject": subject, "body": "\n\n".join(body)}
        args.update(self.extra)
        return args

    def request(self, note: Notification) -> dict[str, t.Any]:
        """The JSON body posted for ``note`` (without the key, which travels in a header)."""
        body: dict[str, t.Any] = {"arguments": self.arguments(note), "user_id": self.user_id}
        if self.account:
            body["connected_account_id"] = self.account
        body["version"] = self.version
        return body

    def notify(self, note: Notification) -> None:
        """Execute the app's tool with ``note``; AoError when Composio or the app refuses."""
        key, source = self.api_key()
        resp = self._post_json(
            self.url,
            self.request(note),
            {"x-api-key": key, "Accept": "application/json"},
            secrets=[key],
            url_is_secret=False,
            describe=composio_error,
            auth_hint=f"Composio refused the API key from {source}; check it in the "
            "Composio dashboard (Settings → API keys)",
        )
        try:
            answer = resp.json()
        except ValueError:
            return  # a 2xx without JSON: the call was accepted
        if isinstance(answer, dict) and answer.get("successful") is False:
            error = one_line(str(answer.get("error") or "no detail"), 300)
            error = redact(error.replace(key, "***") if len(key) >= 6 else error)
            raise AoError(
                f"composio: {self.tool} did not succeed: {error}",
                hint=f"check that the {self.app} account is connected in Composio for user "
                f"{self.user_id!r} and that the target exists",
            )
