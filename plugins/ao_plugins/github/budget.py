"""GitHub's rate limits as a budget: read from every answer, spent with a reserve kept back.

GitHub reports the primary limit of each resource (``core`` for REST, ``graphql``) in
``x-ratelimit-*`` headers. Background reads (the watcher's polling) stop when a
resource's remaining calls fall to the reserve (a fraction of its limit), so humans and
explicit commands (merge, open a PR) keep some budget. A pause — the reserve reached, a
primary limit exhausted, or a secondary limit (403/429 with ``Retry-After``) — is
recorded on disk with its end time, so one-shot ``ao watch --once`` runs honour it too
and make no request until it ends. Requests during a pause raise ``RateLimitError``
(an ``AoError``) instead of reaching the network: the watcher logs it and carries on.
"""

from __future__ import annotations

import typing as t
from collections.abc import Callable, Mapping
from pathlib import Path

from ao.sdk.forge import BudgetFile, read_limits

SECONDARY = "secondary"  # a pause that applies to every resource


class RateBudget(BudgetFile):
    """Per-resource limits seen in headers, the reserve, and persisted pauses."""

    forge = "GitHub"

    def __init__(self, path: Path | None, *, reserve: float, clock: Callable[[], float]) -> None:
        self.buckets: dict[str, dict[str, float]] = {}
        self.paused: dict[str, tuple[float, str]] = {}
        super().__init__(path, reserve=reserve, clock=clock)

    def _restore(self, doc: t.Any) -> None:
        self.buckets = {k: dict(v) for k, v in doc.get("buckets", {}).items()}
        self.paused = {k: (float(v[0]), str(v[1])) for k, v in doc.get("paused", {}).items()}

    def _dump(self) -> dict[str, t.Any]:
        return {"buckets": self.buckets, "paused": {k: list(v) for k, v in self.paused.items()}}

    def check(self, resource: str, *, conditional: bool = False, essential: bool = False) -> None:
        """Raise ``RateLimitError`` if a request on ``resource`` must not be sent now.

        ``conditional`` requests (answered 304 for free) and ``essential`` ones (a human's
        explicit command) may use the reserve; only a pause stops them.
        """
        now = self.clock()
        blocked: tuple[float, str] | None = None
        with self._lock:
            for key in (SECONDARY, resource):
                until, reason = self.paused.get(key, (0.0, ""))
                if until > now:
                    blocked = (until, reason)
                    break
            if blocked is None and not (conditional or essential):
                bucket = self.buckets.get(resource)
                blocked = self._over_reserve(bucket, now, f"{resource} rate limit")
        self._refuse(blocked)

    def observe(self, resource: str, headers: Mapping[str, str]) -> str:
        """Record the limits an answer reported; returns the resource they were for."""
        resource = headers.get("x-ratelimit-resource") or resource
        limits = read_limits(headers, "x-ratelimit-")
        if limits is not None:
            with self._lock:
                self.buckets[resource] = limits
        return resource

    def pause(self, resource: str, until: float, reason: str) -> None:
        """Send nothing on ``resource`` (or everything, for ``SECONDARY``) until ``until``."""
        with self._lock:
            current = self.paused.get(resource, (0.0, ""))[0]
            self.paused[resource] = (max(until, current), reason)
        self.save()

    def remaining(self, resource: str) -> float | None:
        """The last remaining count seen for ``resource``."""
        bucket = self.buckets.get(resource)
        return bucket["remaining"] if bucket else None

    def snapshot(self) -> dict[str, t.Any]:
        """The budget as plain data (for ``--json`` output and tests)."""
        with self._lock:
            return {"buckets": dict(self.buckets), "paused": dict(self.paused)}
