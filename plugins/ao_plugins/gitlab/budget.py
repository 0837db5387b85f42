"""GitLab's rate limits as a small budget: read from answers, paused on 429, kept on disk.

GitLab reports its limit in ``RateLimit-Limit`` / ``RateLimit-Remaining`` /
``RateLimit-Reset`` (epoch seconds) and refuses with 429 and ``Retry-After`` once it is
spent. Background reads (the watcher's polling) stop when the remaining requests fall
to a reserve (a fraction of the limit) until the reset, so explicit commands (merge,
open a merge request, comment) keep some budget. A 429 whose wait is too long to sit
out becomes a pause recorded on disk with its end time, so one-shot ``ao watch --once``
runs honour it too. A refused request raises ``RateLimitError`` (an ``AoError``)
without touching the network.
"""

from __future__ import annotations

import typing as t
from collections.abc import Callable, Mapping
from pathlib import Path

from ao.sdk.forge import BudgetFile, read_limits


class RateBudget(BudgetFile):
    """The last limit seen in headers, the reserve, and a persisted pause."""

    forge = "GitLab"

    def __init__(self, path: Path | None, *, reserve: float, clock: Callable[[], float]) -> None:
        self.limit: dict[str, float] = {}  # limit, remaining, reset
        self.paused: tuple[float, str] = (0.0, "")
        super().__init__(path, reserve=reserve, clock=clock)

    def _restore(self, doc: t.Any) -> None:
        self.limit = {k: float(v) for k, v in (doc.get("limit") or {}).items()}
        until, reason = doc.get("paused") or (0.0, "")
        self.paused = (float(until), str(reason))

    def _dump(self) -> dict[str, t.Any]:
        return {"limit": self.limit, "paused": list(self.paused)}

    def check(self, *, essential: bool = False) -> None:
        """Raise ``RateLimitError`` if a request must not be sent now.

        ``essential`` requests (a human's explicit command) may use the reserve; only a
        pause stops them.
        """
        now = self.clock()
        with self._lock:
            until, reason = self.paused
            blocked = (until, reason) if until > now else None
            if blocked is None and not essential:
                blocked = self._over_reserve(self.limit, now, "rate limit")
        self._refuse(blocked)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Record the limit an answer reported (``RateLimit-*`` headers), if any."""
        limits = read_limits(headers, "ratelimit-")
        if limits is not None:
            with self._lock:
                self.limit = limits

    def pause(self, until: float, reason: str) -> None:
        """Send nothing until ``until`` (persisted at once)."""
        with self._lock:
            if until > self.paused[0]:
                self.paused = (until, reason)
        self.save()

    def snapshot(self) -> dict[str, t.Any]:
        """The budget as plain data (for ``--json`` output and tests)."""
        with self._lock:
            return {"limit": dict(self.limit), "paused": self.paused}
