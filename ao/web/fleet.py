"""The fleet snapshot every viewer shares: one poller, whatever the number of viewers.

``ao list`` costs two runtime calls (a probe and a batched screen capture). The server
makes them at most once per ``interval`` for everyone: ``GET /api/sessions`` is served
from the last snapshot while it is fresh (concurrent requests wait for the one refresh
under way), and while at least one event stream is open a poller refreshes it every
``interval`` and wakes the streams when it changed. The poller starts with the first
stream and stops with the last, so an unwatched dashboard costs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import typing as t

from ao.api.results import SessionCard
from ao.sdk.errors import AoError
from ao.web.errors import error_body

if t.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from ao.api import Orchestrator

JSON = dict[str, t.Any]
log = logging.getLogger("ao.web")
USAGE_EVERY = 15.0  # seconds between two reads of the agents' own records (tokens, cost)


def listed(row: JSON) -> JSON:
    """A card as ``ao list --json`` has it (without the dashboard's additions)."""
    return {k: v for k, v in row.items() if k not in SessionCard.EXTRA_KEYS}


class Cards:
    """What the snapshot fetches: the live sessions as the dashboard shows them
    (``Orchestrator.cards``: the list's objects plus evidence, PR, issue, usage), and with
    ``archived`` every session as listed. Usage comes from the agents' own files, read at
    most every ``usage_every`` seconds and carried over in between."""

    def __init__(self, api: Orchestrator, usage_every: float = USAGE_EVERY) -> None:
        self.api = api
        self.usage_every = usage_every
        self._usage: dict[tuple[str | None, str], t.Any] = {}
        self._usage_at = float("-inf")

    def __call__(self, archived: bool) -> list[JSON]:
        """The rows (called in a worker thread, never twice at once for the same kind)."""
        if archived:
            return [r.to_json() for r in self.api.sessions(archived=True)]
        fresh = time.monotonic() - self._usage_at >= self.usage_every
        rows = [card.to_json() for card in self.api.cards(usage=fresh)]
        if fresh:
            self._usage = {(r["project"], r["id"]): r["info"] for r in rows}
            self._usage_at = time.monotonic()
        else:
            for r in rows:
                r["info"] = self._usage.get((r["project"], r["id"]))
        return rows


@dataclasses.dataclass
class _Cache:
    lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)
    rows: list[JSON] | None = None
    failure: AoError | None = None
    at: float = float("-inf")


class Fleet:
    """The shared, rate-limited snapshot of ``fetch(archived)`` (``Cards``)."""

    def __init__(self, fetch: Callable[[bool], list[JSON]], interval: float = 1.0) -> None:
        self._fetch = fetch
        self.interval = interval
        self._caches = {False: _Cache(), True: _Cache()}
        self.latest: list[JSON] | None = None  # the live sessions, as last fetched
        self.failure: JSON | None = None  # the error document of the last fetch, if it failed
        self.version = 0  # bumped whenever ``latest`` or ``failure`` changes
        self.fetches = 0
        self._generation = 0  # bumped by ``invalidate``
        self.viewers = 0
        self._changed = asyncio.Event()
        self._poller: asyncio.Task[None] | None = None

    async def rows(self, archived: bool = False) -> list[JSON]:
        """Every live session (with ``archived``, stopped ones too), at most ``interval``
        seconds old; the error of the last refresh is raised again until the next one."""
        cache = self._caches[archived]
        async with cache.lock:
            if time.monotonic() - cache.at >= self.interval:
                generation = self._generation
                try:
                    cache.rows, cache.failure = await asyncio.to_thread(self._fetch, archived), None
                except AoError as exc:
                    cache.rows, cache.failure = None, exc
                finally:
                    # a change made while it ran may be missing from it: not fresh then
                    fresh = generation == self._generation
                    cache.at = time.monotonic() if fresh else float("-inf")
                    self.fetches += 1
                if not archived:
                    self._publish(cache)
            if cache.failure is not None:
                raise cache.failure
            return list(cache.rows or [])

    def invalidate(self) -> None:
        """Refresh on next use: this server just changed the fleet (a read after a write
        sees the write). Safe from any thread."""
        self._generation += 1
        for cache in self._caches.values():
            cache.at = float("-inf")

    def _publish(self, cache: _Cache) -> None:
        failure = None
        if cache.failure is not None:
            failure = error_body(cache.failure.exit_code, cache.failure.message, cache.failure.hint)
        rows = cache.rows if cache.failure is None else self.latest
        if (rows, failure) == (self.latest, self.failure):
            return
        self.latest, self.failure = rows, failure
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def changed(self, seen: int, timeout: float) -> bool:
        """Wait until ``version`` differs from ``seen`` (True) or ``timeout`` passes."""
        if self.version != seen:
            return True
        event = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)
        return self.version != seen

    @contextlib.asynccontextmanager
    async def watching(self) -> AsyncIterator[Fleet]:
        """Count a viewer while the block runs: the first starts the poller, the last
        stops it."""
        self.viewers += 1
        if self._poller is None:
            self._poller = asyncio.create_task(self._poll())
        try:
            yield self
        finally:
            self.viewers -= 1
            if self.viewers == 0 and self._poller is not None:
                self._poller.cancel()
                self._poller = None

    async def _poll(self) -> None:
        while True:
            try:
                await self.rows()
            except AoError:
                pass  # published as ``failure``: the streams say it
            except Exception:  # a bug must not stop the snapshots of every viewer
                log.exception("the fleet snapshot failed")
            await asyncio.sleep(self.interval)
