"""The ``discord`` notifier: a Discord webhook, one colour-coded embed per notification."""

from __future__ import annotations

import typing as t
from collections.abc import Mapping

import httpx

from ao.sdk.contracts import Notification

from .base import (
    _check_options,
    _HttpNotifier,
    _url_option,
    clean,
    event_of,
    link_of,
    now_iso,
    one_line,
)

DISCORD_COLOURS = {"urgent": 0xE74C3C, "action": 0x3498DB, "warning": 0xF39C12, "info": 0x95A5A6}


class DiscordNotifier(_HttpNotifier):
    """A Discord webhook: one colour-coded embed per notification, mentions disabled.

    Options: ``url`` (or ``webhookUrl``, required), ``username``, ``avatarUrl``,
    ``threadId``. A 429 answer is retried after its ``Retry-After`` if that fits in
    the time budget.
    """

    kind = "discord"
    default_retries = 3

    def __init__(self, options: Mapping[str, t.Any]) -> None:
        _check_options(
            "discord", options, ("url", "webhookUrl", "username", "avatarUrl", "threadId")
        )
        super().__init__(options)
        url = _url_option("discord", options, "url", "webhookUrl")
        if options.get("threadId"):
            url = str(httpx.URL(url).copy_add_param("thread_id", str(options["threadId"])))
        self.url = url

    def payload(self, note: Notification) -> dict[str, t.Any]:
        """The JSON body posted for ``note``."""
        embed: dict[str, t.Any] = {
            "title": one_line(note.title, 256) or "ao",
            "color": DISCORD_COLOURS.get(note.priority, DISCORD_COLOURS["info"]),
            "fields": [{"name": "Priority", "value": note.priority, "inline": True}],
            "timestamp": now_iso(),
        }
        message = clean(note.message, 4000)
        if message:
            embed["description"] = message
        if note.session:
            embed["fields"].append(
                {"name": "Session", "value": one_line(note.session, 100), "inline": True}
            )
        if note.project:
            embed["fields"].append(
                {"name": "Project", "value": one_line(note.project, 100), "inline": True}
            )
        event = event_of(note)
        if event:
            embed["fields"].append({"name": "Event", "value": event, "inline": True})
        link = link_of(note)
        if link:
            embed["url"] = link
        body: dict[str, t.Any] = {"embeds": [embed], "allowed_mentions": {"parse": []}}
        if self.options.get("username"):
            body["username"] = str(self.options["username"])
        if self.options.get("avatarUrl"):
            body["avatar_url"] = str(self.options["avatarUrl"])
        return body

    def notify(self, note: Notification) -> None:
        """Post ``note`` to the Discord webhook."""
        self._post_json(self.url, self.payload(note))
