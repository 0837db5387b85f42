"""What the lifecycle API returns: events of the log, reports of passes, notifications.

Frozen dataclasses with ``to_json()`` (see ``ao.api.results``); only the standard library
is imported at run time.
"""

from __future__ import annotations

import dataclasses
import typing as t

if t.TYPE_CHECKING:
    from ao.lifecycle.report import TickReport

JSON = dict[str, t.Any]


@dataclasses.dataclass(frozen=True)
class Event:
    """One event of the log (``events.jsonl``, the v1 format), secrets redacted."""

    id: str
    ts: str
    type: str
    priority: str
    session: str | None
    project: str | None
    message: str
    data: t.Mapping[str, t.Any]
    document: t.Mapping[str, t.Any] = dataclasses.field(repr=False, compare=False)

    @classmethod
    def of(cls, doc: t.Mapping[str, t.Any]) -> Event:
        """An event from a log line that ``ao.store.events.usable`` accepted."""
        return cls(
            id=doc["id"], ts=doc["ts"], type=doc["type"], priority=doc["priority"],
            session=doc["session"], project=doc["project"], message=doc["message"],
            data=doc["data"], document=doc,
        )  # fmt: skip

    def to_json(self) -> JSON:
        """The event as its log line has it (unknown keys of newer writers included)."""
        return dict(self.document)


@dataclasses.dataclass(frozen=True)
class EventPage:
    """Events in time order and the cursor to pass as ``since`` for the ones after them."""

    events: tuple[Event, ...]
    cursor: str

    def to_json(self) -> JSON:
        """As a JSON object."""
        return {"events": [e.to_json() for e in self.events], "cursor": self.cursor}


@dataclasses.dataclass(frozen=True)
class Transition:
    """A session's status change in a pass."""

    session: str
    before: str
    after: str
    rule: str


@dataclasses.dataclass(frozen=True)
class ActionTaken:
    """A reaction's action in a pass (or, simulated, one that would run)."""

    session: str
    reaction: str
    kind: str  # send | notify | merge...
    why: str
    ok: bool
    detail: str
    priority: str | None = None  # known when the pass ran in this process
    message: str | None = None


@dataclasses.dataclass(frozen=True)
class NotificationSent:
    """A notification a pass delivered (or failed to)."""

    session: str | None
    reaction: str
    ok: bool
    detail: str


@dataclasses.dataclass(frozen=True)
class PassError:
    """An exception one session's work raised in a pass (the pass went on)."""

    session: str | None
    error: str


@dataclasses.dataclass(frozen=True)
class PassReport:
    """What one lifecycle pass saw and did."""

    sessions: int
    seconds: float
    cpu_seconds: float
    transitions: tuple[Transition, ...] = ()
    actions: tuple[ActionTaken, ...] = ()
    notifications: tuple[NotificationSent, ...] = ()
    errors: tuple[PassError, ...] = ()

    @classmethod
    def from_json(cls, data: t.Mapping[str, t.Any]) -> PassReport:
        """A report from its JSON form (``ao.lifecycle.report.report_data``)."""
        return cls(
            sessions=data.get("sessions", 0),
            seconds=data.get("seconds", 0.0),
            cpu_seconds=data.get("cpu_seconds", 0.0),
            transitions=tuple(
                Transition(x["session"], x["from"], x["to"], x["rule"])
                for x in data.get("transitions", ())
            ),
            actions=tuple(
                ActionTaken(x["session"], x["reaction"], x["kind"], x["why"], x["ok"], x["detail"])
                for x in data.get("actions", ())
            ),
            notifications=tuple(
                NotificationSent(x["session"], x["reaction"], x["ok"], x["detail"])
                for x in data.get("notifications", ())
            ),
            errors=tuple(PassError(x["session"], x["error"]) for x in data.get("errors", ())),
        )

    @classmethod
    def from_report(cls, report: TickReport) -> PassReport:
        """A report of a pass that ran in this process (with each action's message)."""
        from ao.lifecycle.report import report_data  # lazy: the lifecycle is heavy

        base = cls.from_json(report_data(report))
        actions = tuple(
            dataclasses.replace(a, priority=p.priority, message=p.message)
            for a, (_, p, _ok, _detail) in zip(base.actions, report.actions, strict=True)
        )
        return dataclasses.replace(base, actions=actions)

    @property
    def changed(self) -> bool:
        """Whether the pass changed, did or reported anything."""
        return bool(self.transitions or self.actions or self.notifications or self.errors)

    def to_json(self) -> JSON:
        """The data of ``ao watch --once --json`` (and each line of ``ao watch --json``)."""
        return {
            "sessions": self.sessions,
            "seconds": round(self.seconds, 4),
            "cpu_seconds": round(self.cpu_seconds, 4),
            "transitions": [
                {"session": x.session, "from": x.before, "to": x.after, "rule": x.rule}
                for x in self.transitions
            ],
            "actions": [
                {"session": a.session, "reaction": a.reaction, "kind": a.kind, "why": a.why,
                 "ok": a.ok, "detail": a.detail}
                for a in self.actions
            ],
            "notifications": [
                {"session": n.session, "reaction": n.reaction, "ok": n.ok, "detail": n.detail}
                for n in self.notifications
            ],
            "errors": [{"session": e.session, "error": e.error} for e in self.errors],
        }  # fmt: skip


@dataclasses.dataclass(frozen=True)
class PassOutcome:
    """What ``run_pass`` did: ``ran`` (``ran_by`` ``self`` or the running ``watcher``),
    ``skipped`` (another pass holds the lock and ``timeout`` was 0), ``timeout`` (the
    running watcher did not answer in time) or ``interrupted`` (``cancel`` was set)."""

    status: str
    ran_by: str | None
    watcher_pid: int | None
    detail: str
    report: PassReport | None

    def to_json(self) -> JSON:
        """The data of ``ao watch --once --json``."""
        data: JSON = {**(self.report.to_json() if self.report is not None else {}),
                      "status": self.status, "ran_by": self.ran_by,
                      "watcher_pid": self.watcher_pid}  # fmt: skip
        if self.status != "ran":
            data["detail"] = self.detail
        return data


@dataclasses.dataclass(frozen=True)
class NotifierResult:
    """What one notifier did with a test notification."""

    name: str
    plugin: str
    ok: bool
    error: str | None
    seconds: float

    def to_json(self) -> JSON:
        """One element of ``ao notify test --json``."""
        return {"name": self.name, "plugin": self.plugin, "ok": self.ok, "error": self.error,
                "seconds": round(self.seconds, 3)}  # fmt: skip
