"""The ``ntfy`` notifier: publishes to an ntfy topic (https://ntfy.sh or self-hosted)."""

from __future__ import annotations

import base64
import typing as t
from collections.abc import Mapping

from ao.sdk.contracts import Notification
from ao.sdk.errors import AoError

from .base import _check_options, _HttpNotifier, clean, event_of, link_of, one_line

NTFY_PRIORITIES = {"urgent": "5", "action": "4", "warning": "3", "info": "2"}
NTFY_TAGS = {
    "urgent": "rotating_light",
    "action": "point_right",
    "warning": "warning",
    "info": "information_source",
}


def header_text(text: str) -> str:
    """``text`` as an HTTP header value: ASCII as is, anything else as an RFC 2047 word."""
    if text.isascii():
        return text
    return "=?UTF-8?B?" + base64.b64encode(text.encode("utf-8")).decode("ascii") + "?="


class NtfyNotifier(_HttpNotifier):
    """Publishes to an ntfy topic (https://ntfy.sh or a self-hosted server).

    Options: ``topic`` (required; on ntfy.sh the topic name is the password), ``server``
    (default ``https://ntfy.sh``), ``token`` (access token, sent as a Bearer header).
    Priority maps to ntfy's 1-5 scale: urgent 5, action 4, warning 3, info 2.
    """

    kind = "ntfy"

    def __init__(self, options: Mapping[str, t.Any]) -> None:
        _check_options("ntfy", options, ("server", "topic", "token"))
        super().__init__(options)
        server = str(options.get("server") or "https://ntfy.sh").rstrip("/")
        if not server.startswith(("https://", "http://")):
            raise AoError("ntfy notifier: server must be an http(s) URL")
        topic = str(options.get("topic") or "")
        if not topic or "/" in topic or topic.strip() != topic:
            raise AoError("ntfy notifier needs option 'topic' (a name without '/' or spaces)")
        self.server = server
        self.topic = topic
        token = options.get("token")
        self.token = str(token) if token else None

    @property
    def url(self) -> str:
        """Where messages are published: ``<server>/<topic>``."""
        return f"{self.server}/{self.topic}"

    def request(self, note: Notification) -> tuple[bytes, dict[str, str]]:
        """The body and headers published for ``note``."""
        title = one_line(note.title, 250)
        if note.session:
            title = f"{title} [{one_line(note.session, 60)}]"
        # ntfy turns bodies over 4 KB into attachments: keep well below
        message = clean(note.message, 3500) or title
        headers = {
            "Content-Type": "text/plain; charset=utf-8",
            "X-Title": header_text(title),
            "X-Priority": NTFY_PRIORITIES.get(note.priority, "3"),
            "X-Tags": NTFY_TAGS.get(note.priority, "information_source"),
        }
        event = event_of(note)
        if event:
            headers["X-Tags"] += f",{event}"
        link = link_of(note)
        if link and link.isascii():
            headers["X-Click"] = link
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return message.encode("utf-8"), headers

    def notify(self, note: Notification) -> None:
        """Publish ``note`` to the topic."""
        body, headers = self.request(note)
        self.sender.post(self.url, body, headers, secrets=[self.token or ""])
