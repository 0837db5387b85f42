"""The ``webhook`` notifier: a versioned JSON envelope POSTed to any URL, optionally
signed with HMAC-SHA256 (``X-Ao-Signature``)."""

from __future__ import annotations

import json
import typing as t
import uuid
from collections.abc import Mapping

from ao.sdk.contracts import Notification
from ao.sdk.errors import AoError

from .base import (
    SIGNATURE_HEADER,
    _check_options,
    _HttpNotifier,
    _url_option,
    clean,
    clean_data,
    event_of,
    now_iso,
    sign,
)

ENVELOPE_VERSION = 1


def envelope(note: Notification) -> dict[str, t.Any]:
    """The versioned JSON envelope (``"v": 1``) the webhook notifier posts for ``note``."""
    return {
        "v": ENVELOPE_VERSION,
        "type": "notification",
        "event": event_of(note),
        "id": str(uuid.uuid4()),
        "ts": now_iso(),
        "priority": note.priority,
        "title": clean(note.title),
        "message": clean(note.message),
        "session": note.session,
        "project": note.project,
        "data": clean_data(dict(note.data)),
    }


class WebhookNotifier(_HttpNotifier):
    """POSTs a versioned JSON envelope to any URL, optionally signed with HMAC-SHA256.

    Options: ``url`` (required), ``secret`` (adds ``X-Ao-Signature: sha256=<hex>`` over
    the exact body), ``headers`` (extra request headers, e.g. Authorization).
    Retries on connection errors and 5xx answers; every attempt carries the same ``id``.
    """

    kind = "webhook"
    default_retries = 3

    def __init__(self, options: Mapping[str, t.Any]) -> None:
        _check_options("webhook", options, ("url", "secret", "headers"))
        super().__init__(options)
        self.url = _url_option("webhook", options, "url")
        secret = options.get("secret")
        self.secret = str(secret) if secret else None
        headers = options.get("headers") or {}
        if not isinstance(headers, Mapping):
            raise AoError("webhook notifier: headers must be a mapping of name to value")
        self.headers = {str(k): str(v) for k, v in headers.items()}
        for name, value in self.headers.items():
            # checked here so a bad value never reaches an error message
            if not (name.isascii() and value.isascii() and value.isprintable()):
                raise AoError(f"webhook notifier: header {name!r} must be printable ASCII")

    def notify(self, note: Notification) -> None:
        """Post ``note``'s envelope to the webhook URL."""
        body = json.dumps(
            envelope(note), ensure_ascii=False, separators=(",", ":"), default=str
        ).encode("utf-8")
        headers = {**self.headers, "Content-Type": "application/json"}
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(self.secret, body)
        self.sender.post(
            self.url, body, headers, secrets=[*(self.headers.values()), self.secret or ""]
        )
