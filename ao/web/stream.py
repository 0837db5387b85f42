"""``GET /api/events/stream``: the event log and the fleet as server-sent events.

The stream sends, in order:

- ``open``: ``{"cursor", "resumed"}``, with ``id:`` the cursor it starts from;
- ``event`` for each event of the log recorded after that cursor (``ao events --json``
  lines), as they are recorded. The last event of each batch carries ``id:`` = the log's
  cursor after it (``Orchestrator.events``), so a client that reconnects with
  ``Last-Event-ID`` (browsers do it by themselves) gets exactly the events it missed; one
  that dropped in the middle of a batch gets that batch again (events have unique ids);
- ``sessions``: the live sessions (``ao list --json`` objects with the dashboard's
  additions, ``SessionCard``) at once and whenever the shared snapshot (``ao.web.fleet``)
  changes;
- ``error`` (an error document) when reading the log or refreshing the sessions fails;
- a ``: ping`` comment every 15 s, so proxies and clients see a live connection.
"""

from __future__ import annotations

import asyncio
import json
import time
import typing as t

from ao.sdk.errors import AoError
from ao.web.errors import error_body
from ao.web.fleet import JSON, Fleet

if t.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from ao.api import Orchestrator

RETRY_MS = 2000  # how soon a browser reconnects
PING_SECONDS = 15.0


def sse(
    *, event: str | None = None, data: t.Any = None, id: str | None = None, retry: int | None = None
) -> bytes:
    """One message in the ``text/event-stream`` format (``data`` as one line of JSON)."""
    lines = []
    if retry is not None:
        lines.append(f"retry: {retry}")
    if event is not None:
        lines.append(f"event: {event}")
    if id is not None:
        lines.append(f"id: {id}")
    lines.append("data: " + json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    return ("\n".join(lines) + "\n\n").encode()


class EventStream:
    """One client's stream from cursor ``start``: ``missed`` (the events after it, up to
    ``cursor``) first, then the ones recorded after ``cursor``."""

    def __init__(
        self,
        api: Orchestrator,
        fleet: Fleet,
        *,
        start: str,
        cursor: str,
        missed: list[JSON],
        resumed: bool,
        project: str | None,
        session: str | None,
        stopping: Callable[[], bool],
        poll: float = 0.5,
    ) -> None:
        self.api, self.fleet = api, fleet
        self.start, self.cursor = start, cursor
        self.missed, self.resumed = missed, resumed
        self.project, self.session = project, session
        self.stopping = stopping
        self.poll = poll
        self._failure: JSON | None = None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        """The messages, until the client leaves or the server stops."""
        opened = {"cursor": self.start, "resumed": self.resumed}
        yield sse(retry=RETRY_MS, event="open", id=self.start, data=opened)
        for message in self._batch(self.missed):
            yield message
        async with self.fleet.watching() as fleet:
            seen, sent_rows, sent_failure = -1, None, None
            pinged = next_read = time.monotonic()
            while not self.stopping():
                if fleet.version != seen:
                    seen = fleet.version
                    rows = self._mine(fleet.latest)
                    if rows is not None and rows != sent_rows:
                        sent_rows = rows
                        yield sse(event="sessions", data=rows)
                    if fleet.failure is not None and fleet.failure != sent_failure:
                        yield sse(event="error", data=fleet.failure)
                    sent_failure = fleet.failure
                if time.monotonic() >= next_read:
                    for message in await self._read():
                        yield message
                    next_read = time.monotonic() + self.poll
                if time.monotonic() - pinged >= PING_SECONDS:
                    yield b": ping\n\n"
                    pinged = time.monotonic()
                await fleet.changed(seen, timeout=max(0.05, next_read - time.monotonic()))

    async def _read(self) -> list[bytes]:
        """The events recorded since the cursor, as messages (the cursor moves past them);
        a failure to read them (the config broke) is an ``error`` message, once."""
        try:
            page = await asyncio.to_thread(
                self.api.events, self.cursor, project=self.project, session=self.session
            )
        except AoError as exc:
            failure = error_body(exc.exit_code, exc.message, exc.hint)
            if failure == self._failure:
                return []
            self._failure = failure
            return [sse(event="error", data=failure)]
        self._failure = None
        self.cursor = page.cursor
        return self._batch([e.to_json() for e in page.events])

    def _batch(self, events: list[JSON]) -> list[bytes]:
        """``event`` messages; the last one carries the cursor after all of them."""
        return [
            sse(event="event", data=e, id=self.cursor if i == len(events) - 1 else None)
            for i, e in enumerate(events)
        ]

    def _mine(self, rows: list[JSON] | None) -> list[JSON] | None:
        """The rows this client asked for (its project, its session)."""
        if rows is None:
            return None
        return [
            r for r in rows
            if self.project in (None, r.get("project")) and self.session in (None, r.get("id"))
        ]  # fmt: skip
