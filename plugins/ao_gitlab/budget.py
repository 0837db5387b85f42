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

import contextlib
import json
import threading
import typing as t
from collections.abc import Callable, Mapping
from pathlib import Path

from ao.errors import RateLimitError
from ao.errors import clock_time as when


class RateBudget:
    """The last limit seen in headers, the reserve, and a persisted pause."""

    def __init__(self, path: Path | None, *, reserve: float, clock: Callable[[], float]) -> None:
        self.path = path
        self.reserve = min(max(reserve, 0.0), 0.9)
        self.clock = clock
        self._lock = threading.Lock()
        self.limit: dict[str, float] = {}  # limit, remaining, reset
        self.paused: tuple[float, str] = (0.0, "")
        self._load()

    def _load(self) -> None:
        if self.path is None:
            return
        with contextlib.suppress(OSError, ValueError, TypeError, AttributeError, IndexError):
            doc = json.loads(self.path.read_text(encoding="utf-8"))
            self.limit = {k: float(v) for k, v in (doc.get("limit") or {}).items()}
            until, reason = doc.get("paused") or (0.0, "")
            self.paused = (float(until), str(reason))

    def save(self) -> None:
        """Write the budget for the next process (best effort)."""
        if self.path is None:
            return
        from ao.httpcache import write_atomic

        with self._lock:
            doc = {"limit": self.limit, "paused": list(self.paused)}
        with contextlib.suppress(OSError):
            write_atomic(self.path, json.dumps(doc))

    def check(self, *, essential: bool = False) -> None:
        """Raise ``RateLimitError`` if a request must not be sent now.

        ``essential`` requests (a human's explicit command) may use the reserve; only a
        pause stops them.
        """
        now = self.clock()
        with self._lock:
            until, reason = self.paused
            blocked = (until, reason) if until > now else None
            limit = self.limit
            if blocked is None and limit and not essential:
                total, remaining, reset = limit["limit"], limit["remaining"], limit["reset"]
                if reset > now and remaining <= total * self.reserve:
                    blocked = (
                        reset,
                        f"rate limit down to {remaining:.0f}/{total:.0f} "
                        f"(keeping {self.reserve:.0%} in reserve)",
                    )
        if blocked is not None:
            raise RateLimitError(
                f"GitLab API paused until {when(blocked[0])}: {blocked[1]}",
                until=blocked[0],
                hint="ao resumes by itself after that; explicit commands may use the reserve",
            )

    def observe(self, headers: Mapping[str, str]) -> None:
        """Record the limit an answer reported (``RateLimit-*`` headers), if any."""
        try:
            limit = float(headers["ratelimit-limit"])
            remaining = float(headers["ratelimit-remaining"])
            reset = float(headers["ratelimit-reset"])
        except (KeyError, ValueError):
            return
        with self._lock:
            self.limit = {"limit": limit, "remaining": remaining, "reset": reset}

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
