"""Notifiers that deliver over HTTP, one module each: Slack (``slack``), Discord
(``discord``), a generic JSON webhook (``webhook``), ntfy (``ntfy``), OpenClaw
(``openclaw``) and Composio (``composio``), over one sender (``base``).

Every notifier POSTs with httpx under an explicit time budget (option ``timeout``,
seconds, default 10) that covers all attempts: connection errors, 5xx answers and
429 rate limits (honouring ``Retry-After``) are retried with exponential backoff
(``retries``, ``retryDelay``) while the budget lasts; any other answer fails at once.

Notification text is untrusted (it quotes PR titles, CI logs, agent output): control
and escape sequences are stripped, and each service's own markup is neutralised so a
message cannot ping ``@everyone`` or smuggle links. URLs, tokens and secrets never
appear in error messages: webhook URLs are shown as ``scheme://host/…``.
"""

from __future__ import annotations

from .base import (
    SIGNATURE_HEADER,
    USER_AGENT,
    clean,
    clean_data,
    env_secret,
    event_of,
    link_of,
    now_iso,
    one_line,
    redact_url,
    secret_option,
    sign,
    url_secrets,
)
from .discord import DISCORD_COLOURS, DiscordNotifier
from .ntfy import NTFY_PRIORITIES, NTFY_TAGS, NtfyNotifier, header_text
from .slack import SlackNotifier
from .webhook import ENVELOPE_VERSION, WebhookNotifier, envelope

# the entry points (pyproject.toml) name the four notifiers here
__all__ = [
    "DISCORD_COLOURS",
    "ENVELOPE_VERSION",
    "NTFY_PRIORITIES",
    "NTFY_TAGS",
    "SIGNATURE_HEADER",
    "USER_AGENT",
    "DiscordNotifier",
    "NtfyNotifier",
    "SlackNotifier",
    "WebhookNotifier",
    "clean",
    "clean_data",
    "env_secret",
    "envelope",
    "event_of",
    "header_text",
    "link_of",
    "now_iso",
    "one_line",
    "redact_url",
    "secret_option",
    "sign",
    "url_secrets",
]
