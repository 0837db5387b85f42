"""The lifecycle: one pass of the watcher, the watch loop, the event log, notifications."""

from __future__ import annotations

import json
import os
import re
import typing as t

from ao.api.base import Base
from ao.sdk.errors import ConfigError, ConflictError, NotFoundError, UsageError
from ao.sdk.redact import redact_data
from ao.store import events as event_log

if t.TYPE_CHECKING:
    import threading
    from collections.abc import Callable
    from pathlib import Path

    from ao.api.reports import EventPage, NotifierResult, PassOutcome, PassReport
    from ao.lifecycle.watch import Watcher

CURSOR_RE = r"(?:[A-Za-z0-9_.-]+=\d+(?:,[A-Za-z0-9_.-]+=\d+)*)?"  # compiled on first use


class Lifecycle(Base):
    """What the watcher does, on demand or in a loop, and what it recorded."""

    def _watcher(self, project: str | None, cancel: threading.Event | None) -> Watcher:
        from ao.lifecycle.watch import Watcher  # lazy: see ao.api.base

        path = self.config_path
        if path is None:
            raise ConfigError(
                "no agent-orchestrator.yaml found", hint="run `ao start` in a repository"
            )
        if cancel is None:
            return Watcher(path, project)
        event = cancel

        class Cancellable(Watcher):
            """A watcher whose ``stopping`` is ``cancel``."""

            @property
            def stopping(self) -> bool:
                return event.is_set()

            @stopping.setter
            def stopping(self, value: bool) -> None:
                if value:
                    event.set()

        return Cancellable(path, project)

    def run_pass(
        self,
        *,
        project: str | None = None,
        timeout: float = 120.0,
        cancel: threading.Event | None = None,
    ) -> PassOutcome:
        """One lifecycle pass now (what ``ao watch --once`` does): observe every session,
        move its status, run the reactions, deliver notifications and queued messages.

        While a watcher runs, it is asked to run the pass and its report is returned;
        ``timeout`` bounds that wait (0: skip at once, status ``skipped``). Setting
        ``cancel`` (e.g. from a signal handler) ends the wait (status ``interrupted``); a
        pass under way here always finishes.
        """
        # lazy: only this method needs these, so `ao list` stays light
        from ao.api.reports import PassOutcome, PassReport
        from ao.lifecycle.passes import run_once  # lazy: see ao.api.base

        outcome = run_once(self._watcher(project, cancel), timeout)
        report = PassReport.from_json(outcome.data) if outcome.data else None
        return PassOutcome(
            outcome.status, outcome.ran_by, outcome.watcher_pid, outcome.detail, report
        )

    def watch(
        self,
        on_pass: Callable[[PassReport], None],
        *,
        interval: float = 30.0,
        project: str | None = None,
        cancel: threading.Event | None = None,
        on_start: Callable[[], None] | None = None,
    ) -> None:
        """Run the watcher: a pass every ``interval`` seconds, each reported to ``on_pass``,
        until ``cancel`` is set (a pass under way finishes first). ``on_start`` is called
        once the watcher holds the config's watch lock. ConflictError when another watcher
        holds it. Passes that ``run_pass`` asks for meanwhile are served."""
        # lazy: only this method needs these, so `ao list` stays light
        from ao.api.reports import PassReport

        watcher = self._watcher(project, cancel)
        if not watcher.acquire():
            raise ConflictError(
                "a watcher is already running", hint="`ao watch --once` is safe to run from cron"
            )
        try:
            if on_start is not None:
                on_start()
            watcher.run(interval, lambda report: on_pass(PassReport.from_report(report)))
        finally:
            watcher.release()

    def simulate(self, session_id: str, *, project: str | None = None) -> PassReport:
        """What a pass would do for the session now, and why, without doing it (status
        changes, and each action with its message)."""
        # lazy: only this method needs these, so `ao list` stays light
        from ao.api.reports import PassReport
        from ao.lifecycle.watch import tick  # lazy: see ao.api.base

        proj, _ = self._session(session_id, project)
        return PassReport.from_report(tick(self.context, [proj], dry_run=True, only=session_id))

    # ----------------------------------------------------------------- events

    def events(
        self,
        since: str | None = None,
        *,
        project: str | None = None,
        session: str | None = None,
        limit: int | None = None,
    ) -> EventPage:
        """Events of the log (status changes, reactions, notifications, messages) in time
        order, secrets redacted, with a cursor: pass it back as ``since`` (with the same
        ``project``) for only the events recorded after these.

        Without ``since``, the whole log; ``limit`` keeps the last ``limit`` events.
        Lines that cannot be read are skipped. A ``session`` that is neither live,
        archived nor in the log is a NotFoundError.
        """
        # lazy: only this method needs these, so `ao list` stays light
        from ao.api.reports import Event, EventPage

        offsets = _parse_cursor(since)
        projects = self._projects(project)
        found: list[dict[str, t.Any]] = []
        for proj in projects:
            read, offsets[proj.id] = _read_from(proj.paths.events, offsets.get(proj.id, 0))
            found += [e for e in read if session in (None, e["session"])]
        found.sort(key=lambda e: e["ts"])
        if since is None and session is not None and not found:
            known = [p for p in projects if p.store.exists(session) or p.store.archived(session)]
            if not known:
                # lazy: only an unknown session's did-you-mean needs it
                import difflib

                live = [s.id for p in projects for s in p.store.list()]
                close = difflib.get_close_matches(session, live, n=1)
                guess = f"did you mean {close[0]!r}? " if close else ""
                raise NotFoundError(
                    f"no session {session!r}, live or archived, and no events of it",
                    hint=f"{guess}`ao list --all` shows every session",
                )
        if limit is not None:
            found = found[-limit:] if limit > 0 else []
        # redacted again: logs written before ao redacted events
        page = tuple(Event.of(redact_data(e)) for e in found)
        return EventPage(page, ",".join(f"{pid}={n}" for pid, n in sorted(offsets.items())))

    # ----------------------------------------------------------------- notifications

    def notify_test(
        self, name: str | None = None, *, priority: str = "info", timeout: float = 10.0
    ) -> list[NotifierResult]:
        """Send a test notification through notifier ``name`` (a key of ``notifiers`` or a
        plugin name), else through every notifier routed for ``priority``; what each did.
        ConfigError when none is routed."""
        # lazy: only this method needs these, so `ao list` stays light
        from ao.api.reports import NotifierResult
        from ao.notify import PRIORITIES, dispatch  # lazy: see ao.api.base
        from ao.sdk.contracts import Notification

        if priority not in PRIORITIES:
            raise UsageError(
                f"unknown priority {priority!r}", hint=f"use one of: {', '.join(PRIORITIES)}"
            )
        via = f"the {name!r} notifier" if name else f"the notifiers routed for {priority!r}"
        note = Notification(
            title="ao test notification",
            message=f"If you can read this, {via} works.",
            priority=t.cast("t.Literal['urgent', 'action', 'warning', 'info']", priority),
            data={"test": True},
        )
        config = self.context.config
        results = dispatch(config, note, timeout=timeout, names=[name] if name else None)
        if not results:
            raise ConfigError(
                f"no notifiers are routed for priority {priority!r}",
                hint="set notificationRouting or defaults.notifiers, "
                "or name one: ao notify test NAME",
            )
        return [NotifierResult(r.name, r.plugin, r.ok, r.error, r.seconds) for r in results]


def _parse_cursor(cursor: str | None) -> dict[str, int]:
    """``{project: byte offset}`` from an events cursor (``p1=120,p2=0``)."""
    if cursor is None:
        return {}
    if not re.fullmatch(CURSOR_RE, cursor):
        raise UsageError(
            f"not an events cursor: {cursor!r}", hint="pass back a cursor `events` returned"
        )
    pairs = (item.split("=") for item in cursor.split(",") if item)
    return {pid: int(offset) for pid, offset in pairs}


def _read_from(path: Path, offset: int) -> tuple[list[dict[str, t.Any]], int]:
    """The usable events after byte ``offset`` of the log and the offset after them.

    Like ``ao.store.events.read``: lines that are not UTF-8, not JSON or not events are
    skipped, and a torn last line (a writer mid-append) is left for the next read. A log
    shorter than ``offset`` was replaced: it is read from the start.
    """
    try:
        fh = path.open("rb")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return [], 0
    found = []
    with fh:
        if offset > os.fstat(fh.fileno()).st_size:
            offset = 0
        fh.seek(offset)
        for raw in fh:
            if not raw.endswith(b"\n"):
                break
            offset += len(raw)
            try:
                event = event_log.usable(json.loads(raw.decode("utf-8")))
            except (UnicodeDecodeError, ValueError, RecursionError):
                continue
            if event is not None:
                found.append(event)
    return found, offset
