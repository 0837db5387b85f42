"""The ``slack`` notifier: a Slack incoming webhook (Block Kit, or plain text)."""

from __future__ import annotations

import typing as t
from collections.abc import Mapping

from ao.sdk.contracts import Notification

from .base import _check_options, _HttpNotifier, _url_option, clean, event_of, link_of, one_line

_SLACK_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def _slack_escape(text: str, limit: int | None = None) -> str:
    """Escape Slack's three control characters (no ``<!channel>`` pings, no hidden links).

    With ``limit``, the escaped text is cut to at most that many characters without
    splitting an entity.
    """
    escaped = "".join(_SLACK_ENTITIES.get(ch, ch) for ch in text)
    if limit is None or len(escaped) <= limit:
        return escaped
    out: list[str] = []
    size = 0
    for ch in text:
        piece = _SLACK_ENTITIES.get(ch, ch)
        if size + len(piece) > limit - 1:
            out.append("…")
            break
        out.append(piece)
        size += len(piece)
    return "".join(out)


class SlackNotifier(_HttpNotifier):
    """A Slack incoming webhook.

    Options: ``url`` (or ``webhookUrl``, required), ``blocks`` (send Block Kit; default
    true, false sends plain text), ``channel``, ``username``, ``iconEmoji``.
    """

    kind = "slack"

    def __init__(self, options: Mapping[str, t.Any]) -> None:
        _check_options(
            "slack", options, ("url", "webhookUrl", "blocks", "channel", "username", "iconEmoji")
        )
        super().__init__(options)
        self.url = _url_option("slack", options, "url", "webhookUrl")

    def payload(self, note: Notification) -> dict[str, t.Any]:
        """The JSON body posted for ``note``."""
        title = one_line(note.title, 150)
        message = clean(note.message)
        context = [f"*{note.priority}*"]
        if note.session:
            context.append(f"session `{one_line(note.session, 80)}`")
        if note.project:
            context.append(f"project `{one_line(note.project, 80)}`")
        event = event_of(note)
        if event:
            context.append(f"`{event}`")
        text = _slack_escape(f"{title}: {message}" if message else title, 4000)
        body: dict[str, t.Any] = {"text": text}
        if self.options.get("blocks", True):
            blocks: list[dict[str, t.Any]] = [
                {"type": "header", "text": {"type": "plain_text", "text": title or "ao"}},
            ]
            if message:
                blocks.append(
                    {
                        "type": "section",
                        "text": {"type": "mrkdwn", "text": _slack_escape(message, 3000)},
                    }
                )
            blocks.append(
                {
                    "type": "context",
                    "elements": [{"type": "mrkdwn", "text": _slack_escape(" · ".join(context))}],
                }
            )
            link = link_of(note)
            if link:
                blocks.append(
                    {
                        "type": "actions",
                        "elements": [
                            {
                                "type": "button",
                                "text": {"type": "plain_text", "text": "Open"},
                                "url": link,
                            }
                        ],
                    }
                )
            body["blocks"] = blocks
        for key, field in (("channel", "channel"), ("username", "username")):
            if self.options.get(key):
                body[field] = str(self.options[key])
        if self.options.get("iconEmoji"):
            body["icon_emoji"] = str(self.options["iconEmoji"])
        return body

    def notify(self, note: Notification) -> None:
        """Post ``note`` to the Slack webhook."""
        self._post_json(self.url, self.payload(note))
