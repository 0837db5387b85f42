"""What one lifecycle pass saw and did, and its ``--json`` form (a versioned contract)."""

from __future__ import annotations

import dataclasses
import typing as t

from ao.lifecycle import reactions as rx
from ao.lifecycle.actions import Flushed


@dataclasses.dataclass
class TickReport:
    """What one pass saw and did."""

    sessions: int = 0
    transitions: list[tuple[str, str, str, str]] = dataclasses.field(default_factory=list)
    actions: list[tuple[str, rx.Planned, bool, str]] = dataclasses.field(default_factory=list)
    notifications: list[Flushed] = dataclasses.field(default_factory=list)
    errors: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (session, error)
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # this process's CPU time (excludes the runtime server's)


def report_data(report: TickReport) -> dict[str, t.Any]:
    """``report`` as the ``data`` of ``ao watch --json`` (see docs/cli.md)."""
    return {
        "sessions": report.sessions,
        "seconds": round(report.seconds, 4),
        "cpu_seconds": round(report.cpu_seconds, 4),
        "transitions": [
            {"session": s, "from": a, "to": b, "rule": r} for s, a, b, r in report.transitions
        ],
        "actions": [
            {"session": s, "reaction": p.reaction, "kind": p.kind, "why": p.why, "ok": ok,
             "detail": detail}
            for s, p, ok, detail in report.actions
        ],
        "notifications": [
            {"session": n.session or None, "reaction": n.reaction, "ok": n.ok, "detail": n.detail}
            for n in report.notifications
        ],
        "errors": [{"session": s or None, "error": e} for s, e in report.errors],
    }  # fmt: skip
