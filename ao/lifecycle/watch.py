"""``ao watch``: one tick observes every session and moves it through the lifecycle.

A tick costs O(1) runtime calls (one probe, one batched capture per runtime) and one
batched SCM call per project, then runs the pure transition function and reactions for
each session. Writes are atomic and each session's bookkeeping is written right after
its actions, so a watcher killed mid-tick loses nothing: the next pass picks up from
the recorded state (an action may repeat once; it is never silently dropped).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import time
import typing as t
from collections.abc import Iterator
from pathlib import Path

from ao.config import load_config
from ao.config.conditions import evaluate, parse
from ao.lifecycle import fixing, tasks, vocabulary
from ao.lifecycle import reactions as rx
from ao.lifecycle.actions import NUDGE_ECHO, execute, flush, notify, nudged_at
from ao.lifecycle.machine import TERMINAL, Facts, decide
from ao.lifecycle.outbox import drain
from ao.lifecycle.passes import SERVES, Inbox
from ao.lifecycle.report import TickReport
from ao.sdk.contracts import Isolating, Observation, PaneState, PrState, RuntimeSpec
from ao.sdk.errors import AoError
from ao.sdk.proc import pid_alive
from ao.sdk.textsafe import strip_controls
from ao.session.context import Context
from ao.session.delivery import answer_dialog
from ao.session.ops import handle_of
from ao.session.spawn import admit, at_capacity
from ao.session.stop_restore import restore, stop
from ao.store import events, kvfile, record
from ao.store.locks import atomic_write, locked, try_lock
from ao.store.paths import watch_lock_path, watcher_name
from ao.store.record import (
    ORCHESTRATOR,
    Bookkeeping,
    Changes,
    Status,
    reaction_key,
    timestamp,
)
from ao.store.state import Session

if t.TYPE_CHECKING:
    from ao.sdk.contracts import Activity, Agent, RuntimeHandle
    from ao.session.context import Context, Project

GONE = PaneState(alive=False, running=False)
PRIORITY_OF_STATUS = {
    Status.NEEDS_INPUT: "urgent", Status.STUCK: "urgent", Status.BLOCKED: "urgent",
    Status.EXITED: "warning", Status.ERRORED: "warning", Status.CI_FAILED: "action",
    Status.CHANGES_REQUESTED: "action", Status.MERGEABLE: "action",
}  # fmt: skip


def tick(
    ctx: Context,
    projects: list[Project],
    *,
    now: float | None = None,
    dry_run: bool = False,
    only: str | None = None,
) -> TickReport:
    """One idempotent pass over ``projects`` (or just session ``only``)."""

    started, cpu_started = time.monotonic(), time.process_time()
    now = time.time() if now is None else now
    report = TickReport()
    live = [(p, s) for p in projects for s in p.store.list() if only in (None, s.id)]
    panes: dict[str, PaneState] = {}
    screens: dict[str, str] = {}
    runtimes = {s.runtime or ctx.config.defaults.runtime for _, s in live}
    for name in runtimes:
        runtime = ctx.runtime(name)
        panes.update(runtime.probe())
        handles = [
            h for _, s in live
            if (h := handle_of(s)) is not None and panes.get(h.name, GONE).running
            and (s.runtime or ctx.config.defaults.runtime) == name
        ]  # fmt: skip
        screens.update(runtime.capture_many(handles))
    seen: dict[str, str] = {}  # session id → what its agent was doing
    for project in projects:
        sessions = [s for p, s in live if p is project]
        prs = _pr_states(ctx, project, sessions)
        for session in sessions:
            report.sessions += 1
            if session.status == Status.QUEUED:
                continue  # admitted below, once this tick knows who finished
            pr = prs.get(session.branch) if session.branch else None
            with _guard(project, session.id, report):
                seen[session.id] = _one(
                    ctx, project, session, panes, screens, pr, now, dry_run, report
                )
    if not dry_run:
        for project in projects:
            with _guard(project, "", report):
                tasks.advance(ctx, project, seen, report)
            with _guard(project, "", report):
                fixing.advance(ctx, project, report)
            with _guard(project, "", report):
                _admit_queued(ctx, project, report, only)
                if only is None:
                    _all_complete(ctx, project, report)
        report.notifications = flush(ctx, projects, now)
    report.seconds = time.monotonic() - started
    report.cpu_seconds = time.process_time() - cpu_started
    return report


@contextlib.contextmanager
def _guard(project: Project, session_id: str, report: TickReport) -> Iterator[None]:
    """One session's (or project's) failure is an event, never the end of the pass."""
    try:
        yield
    except Exception as exc:
        detail = f"{type(exc).__name__}: {exc}"
        report.errors.append((session_id, detail))
        events.append(project.paths, "tick.error", session=session_id or None,
                      priority="warning", message=detail)  # fmt: skip


def _admit_queued(ctx: Context, project: Project, report: TickReport, only: str | None) -> None:
    """Start queued sessions, oldest first, while the session limit has room."""

    for session in project.store.list():
        if session.status != Status.QUEUED or only not in (None, session.id):
            continue
        if at_capacity(ctx, project):
            return
        try:
            if admit(ctx, project, session.id) is None:
                return  # a parallel `ao new` took the slot first
            report.transitions.append((session.id, Status.QUEUED, Status.WORKING, "admitted"))
        except AoError as exc:
            report.transitions.append((session.id, Status.QUEUED, Status.ERRORED, str(exc)))
        if ctx.config.min_free_memory is not None:
            return  # the new agent's memory shows only once it runs: one per pass


def _all_complete(ctx: Context, project: Project, report: TickReport) -> None:
    """Notify once when every session of a project has finished."""

    # an orchestrator outlives its workers: they finishing is what it waits for
    sessions = [s for s in project.store.list() if s.role != ORCHESTRATOR]
    if not sessions or any(s.status not in TERMINAL for s in sessions):
        return
    signature = ",".join(sorted(s.id for s in sessions))
    state_file = project.paths.root / "lifecycle"
    with locked(project.paths.locks / "lifecycle.lock"):
        state = kvfile.loads(state_file.read_text(encoding="utf-8")) if state_file.exists() else {}
        if state.get("all_complete") == signature:
            return
        summary = ", ".join(f"{s.id} {s.status}" for s in sessions)
        message = rx.render(rx.BUILTINS["all-complete"].message, {"project": project.id})
        planned = rx.Planned(
            "all-complete", "notify", "info", f"{message}\n{summary}",
            "every session has finished", signature,
        )  # fmt: skip
        cfg = ctx.config.reactions.get("all-complete")
        if cfg is None or cfg.auto:
            detail = notify(project, "", planned)
            report.actions.append(("", planned, True, detail))
        atomic_write(state_file, kvfile.dumps({**state, "all_complete": signature}))


def _pr_states(ctx: Context, project: Project, sessions: list[Session]) -> dict[str, PrState]:
    # an exited agent's PR still moves (CI, review, merge): keep following it
    branches = sorted({s.branch for s in sessions if s.branch and _follows_pr(s.status)})
    # without `repo: owner/name` there is no forge to ask (`ao start` fills it from origin)
    scm = ctx.project_scm(project) if branches and project.config.repo else None
    if scm is None:
        return {}
    try:
        return scm.pr_states(project.config.repo or "", branches)
    except Exception as exc:  # the forge is down or rate-limited: keep going without PRs
        events.append(project.paths, "scm.error", priority="warning", message=str(exc))
        return {}


def _follows_pr(status: Status | None) -> bool:
    return status not in TERMINAL or status == Status.EXITED


def _one(
    ctx: Context,
    project: Project,
    session: Session,
    panes: dict[str, PaneState],
    screens: dict[str, str],
    pr: PrState | None,
    now: float,
    dry_run: bool,
    report: TickReport,
) -> str:
    """Observe one session, move its status, run its reactions; returns what its agent
    was seen doing."""
    handle = handle_of(session)
    pane = panes.get(handle.name, GONE) if handle else GONE
    if pane.unreachable:  # its host is down: nothing is known, so nothing changes
        return "unknown"
    obs = Observation(
        pane=pane, screen=screens.get(handle.name) if handle else None, session=session.as_kv()
    )
    try:
        agent = ctx.agent(session.agent or "")
    except Exception:
        return "unknown"  # an uninstalled adapter: leave the session as recorded
    if handle is not None and not dry_run:
        answered = answer_dialog(ctx.runtime(session.runtime), agent, handle, obs)
        if answered is not None:
            events.append(
                project.paths, "agent.dialog", session=session.id,
                message=f"answered {answered.name} dialog", data={"dialog": answered.name},
            )  # fmt: skip
            return "unknown"  # look again next tick, once the dialog is gone
    gone = handle is not None and not pane.alive and session.status not in TERMINAL
    reboot = gone and ctx.config.restore_on_boot and not dry_run
    if reboot and _restore_after_reboot(ctx, project, session, report):
        return "unknown"
    activity = agent.activity(obs) if handle else None
    stuck_after = _stuck_after(ctx)
    facts = Facts(
        status=session.status,
        activity=activity.state if activity else "unknown",
        idle_seconds=idle_seconds(session, pane, activity, now, stuck_after),
        stuck_after=stuck_after,
        pr=pr,
        spawner_alive=pid_alive(session.spawner_pid),
    )
    if session.status == Status.SPAWNING and facts.spawner_alive:
        return "starting"  # `ao new` is still building this session
    if (
        session.status == Status.MERGED
        and session.role != ORCHESTRATOR  # never stopped by the lifecycle
        and not dry_run
        and _clean_up_merged(ctx, project, session, now, report)
    ):
        return facts.activity
    busy = False  # the agent was just handed messages queued while it was busy
    if handle is not None and not dry_run and facts.activity == "ready" and _live(session):
        busy = _drain(ctx, project, session, agent, handle, report)
    if busy:  # a queued message was taken: a new turn has begun
        facts = dataclasses.replace(facts, activity="working")
    decision = decide(facts)
    changes: Changes = {}
    status, since = session.status, session.status_since or session.created_at
    if decision.status is not None and decision.status != session.status:
        before = session.status_text or "unknown"
        status, since = decision.status, record.now()
        changes.update({"status": status, "status_since": since, "status_reason": decision.reason})
        report.transitions.append((session.id, before, status, decision.rule))
        if not dry_run:
            events.append(
                project.paths, "status.changed", session=session.id,
                priority=PRIORITY_OF_STATUS.get(status, "info"),
                message=f"{session.id}: {before} → {status} ({decision.reason})",
                data={"from": before, "to": status, "rule": decision.rule,
                      "evidence": activity.evidence.detail if activity else None},
            )  # fmt: skip
    first_seen = session.status_since is None and _live(session)  # spawned, not yet seen
    if first_seen and "status_since" not in changes:  # what `since` fell back to: no change
        changes["status_since"] = session.created_at or record.now()
    if pr is not None:
        changes.update({"pr": pr.url, "pr_number": pr.number, "pr_head": pr.head_sha})
    situation = rx.Situation(
        session=session.id, project=project.id, status=status,
        status_since=timestamp(since) if since else "",
        activity=facts.activity, branch=session.branch or "", pr=pr,
        question=_last_lines(obs.screen), reason=activity.evidence.detail if activity else "",
    )  # fmt: skip
    books: dict[str, Bookkeeping] = {}
    ran: list[vocabulary.Ran] = []
    for key, signature, cfg in _active_reactions(ctx, project, situation):
        message = _message(key, cfg, situation, project)
        name = reaction_key(key)
        book = books.get(name) or session.reactions.get(name)
        planned, books[name] = rx.plan(key, signature, cfg, book, situation, now, message)
        if planned is None:
            continue
        ok, detail = (
            (True, "dry run") if dry_run else execute(ctx, project, session, planned, pr, cfg)
        )
        report.actions.append((session.id, planned, ok, detail))
        ran.append(vocabulary.Ran(planned.reaction, planned.kind, ok, detail))
    if not dry_run:
        happened = _vocabulary(project, session, situation, first_seen, ran)
        for planned, cfg in rx.for_events(  # reactions.<type>, notificationRouting.<type>
            ctx.config, happened, ran, lambda key, c: _message(key, c, situation, project)
        ):
            if cfg is None:  # only routed: a notification, not a reaction
                ok, detail = True, notify(project, session.id, planned)
            else:
                ok, detail = execute(ctx, project, session, planned, pr, cfg)
            report.actions.append((session.id, planned, ok, detail))
    changed = {n: b for n, b in books.items() if b != session.reactions.get(n)}
    if changed:
        changes["reactions"] = changed
    if changes and not dry_run:
        project.store.update(session.id, **changes)
    return facts.activity


def _vocabulary(
    project: Project,
    session: Session,
    situation: rx.Situation,
    first_seen: bool,
    ran: list[vocabulary.Ran],
) -> list[vocabulary.Event]:
    """Append the vocabulary events (``ao.lifecycle.vocabulary``) of this session's tick;
    returns them."""

    conflicts = rx.triggers(situation).get("merge-conflicts")
    book = session.reactions.get(reaction_key("merge-conflicts"))
    before = vocabulary.Before(
        status=session.status, pr=session.pr, pr_head=session.pr_head, first_seen=first_seen,
        conflicts_seen=conflicts is not None and book is not None and book.signature == conflicts,
    )  # fmt: skip
    happened = vocabulary.derive(session.id, before, situation.status, situation.pr, ran)
    for event in happened:
        events.append(project.paths, event.type, session=session.id, priority=event.priority,
                      message=event.message, data=event.data)  # fmt: skip
    return happened


def _live(session: Session) -> bool:
    waiting = (Status.QUEUED, Status.SPAWNING)
    return session.status not in TERMINAL and session.status not in waiting


def _drain(
    ctx: Context,
    project: Project,
    session: Session,
    agent: Agent,
    handle: RuntimeHandle,
    report: TickReport,
) -> bool:
    """Hand a ready agent the messages queued while it was busy; True if any was taken."""

    try:
        results = drain(ctx, project, session, agent, handle)
    except AoError as exc:  # the agent exited or got blocked meanwhile: next tick sees it
        events.append(project.paths, "message.failed", session=session.id,
                      priority="warning", message=str(exc))  # fmt: skip
        return False
    taken = False
    for result in results:
        planned = rx.Planned(
            "outbox", "send", "info", "", "the agent is ready for a message queued while busy", ""
        )
        ok = result.status == "delivered"
        report.actions.append((session.id, planned, ok, f"{result.status}: {result.detail}"))
        taken = taken or ok
    return taken


def _restore_after_reboot(
    ctx: Context, project: Project, session: Session, report: TickReport
) -> bool:
    """Relaunch a live session whose runtime session vanished (reboot, killed server)."""

    try:
        restore(ctx, project, session.id)
    except AoError as exc:
        events.append(project.paths, "session.restore_failed", session=session.id,
                      priority="warning", message=str(exc))  # fmt: skip
        return False
    before = session.status_text or "unknown"
    report.transitions.append((session.id, before, Status.WORKING, "restored on boot"))
    return True


DEFAULT_DELETE_AFTER = 300.0


def _clean_up_merged(
    ctx: Context, project: Project, session: Session, now: float, report: TickReport
) -> bool:
    """Stop a merged session after ``approved-and-green.deleteAfter`` (default 5 min).

    An ordinary stop: the worktree goes only if nothing in it is uncommitted or unpushed.
    """

    cfg = ctx.config.reactions.get("approved-and-green")
    delay = (
        cfg.delete_after
        if cfg is not None and cfg.delete_after is not None
        else DEFAULT_DELETE_AFTER
    )
    since = session.status_since
    if since is None or now - since.timestamp() < delay:
        return False
    result = stop(ctx, project, session, final_status=Status.DONE)
    kept = f"; kept the worktree ({result.kept_reason})" if result.kept_reason else ""
    report.transitions.append(
        (session.id, Status.MERGED, Status.DONE, f"cleaned up after merge{kept}")
    )
    return True


def idle_seconds(
    session: Session, pane: PaneState, activity: Activity | None, now: float, stuck_after: float
) -> float:
    """Seconds since the last progress signal: the newest of the pane's last output and
    the agent's native signal (its evidence's age), so a moving native log is never stuck.

    While a session is stuck, output right after the nudge (the nudge's own echo) is not
    progress; without this the echo would end the stuck episode and restart it later
    with a fresh nudge, forever, and no human would ever hear of it.
    """
    seen = [pane.last_activity] if pane.last_activity else []
    if activity is not None and activity.evidence.age is not None:
        seen.append(now - activity.evidence.age)
    nudge = nudged_at(session) if session.status == Status.STUCK else 0.0
    if nudge:
        seen = [at for at in seen if at > nudge + NUDGE_ECHO]
        if not seen:
            since = session.status_since.timestamp() if session.status_since else now
            return stuck_after + max(0.0, now - since)
    return max(0.0, now - max(seen)) if seen else 0.0


def _stuck_after(ctx: Context) -> float:
    cfg = ctx.config.reactions.get("agent-stuck")
    return cfg.threshold if cfg is not None and cfg.threshold is not None else 600.0


def _last_lines(screen: str | None, n: int = 8) -> str:
    if not screen:
        return ""
    lines = [line for line in strip_controls(screen).splitlines() if line.strip()]
    return "\n".join(lines[-n:])


def _active_reactions(
    ctx: Context, project: Project, s: rx.Situation
) -> list[tuple[str, str, t.Any]]:
    configured = ctx.config.reactions
    active = [(key, sig, configured.get(key)) for key, sig in rx.triggers(s).items()]
    env = {
        "status": s.status, "activity": s.activity, "branch": s.branch,
        "ci": s.pr.ci if s.pr else "none",
        "review": s.pr.review_decision if s.pr else "none",
        "labels": list(s.pr.labels) if s.pr else [], "label": list(s.pr.labels) if s.pr else [],
        "draft": s.pr.draft if s.pr else False, "conflicts": s.pr.conflicts if s.pr else False,
    }  # fmt: skip
    for key, cfg in configured.items():
        if key in rx.BUILTINS or not cfg.condition:
            continue
        if evaluate(parse(cfg.condition, f"reactions.{key}.condition"), env):
            active.append((key, f"{s.pr.head_sha if s.pr else ''}:{key}", cfg))
    return active


def _message(key: str, cfg: t.Any, s: rx.Situation, project: Project) -> str:
    builtin = rx.BUILTINS.get(key)
    template = (cfg.message if cfg is not None and cfg.message else None) or (
        builtin.message if builtin else f"Reaction {key} fired for {{{{session}}}}."
    )
    values = {
        **rx.evidence(s.pr), "session": s.session, "branch": s.branch, "project": project.id,
        "question": rx.fence("agent screen", s.question) if s.question else "",
        "reason": s.reason,
    }  # fmt: skip
    return rx.render(template, values)


class Watcher:
    """The loop around ``tick``: one per config, held by a lock."""

    def __init__(self, config_path: Path, project: str | None = None) -> None:
        self.config_path = config_path
        self.project = project
        self.stopping = False
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the watcher lock; False when another watcher or pass holds it."""

        self._fd = try_lock(watch_lock_path(self.config_path))
        if self._fd is None:
            return False
        self._note(serving=False)
        return True

    def _note(self, *, serving: bool) -> None:
        """Say in the lock file who holds it and whether it answers pass requests."""

        if self._fd is None:
            return
        text = f"{os.getpid()}{' ' + SERVES if serving else ''}\n".encode()
        os.pwrite(self._fd, text, 0)  # never empty in between, unlike truncate + write
        os.ftruncate(self._fd, len(text))

    def release(self) -> None:
        """Drop the lock."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def pass_once(self) -> TickReport:
        """Reload the config (cheap when unchanged) and run one tick."""
        return self.pass_over(self.project)

    def pass_over(self, project: str | None) -> TickReport:
        """One tick over ``project`` (None: every project), whatever the watcher's own."""

        ctx = Context(load_config(self.config_path, cached=True))
        projects = [ctx.project(project)] if project else ctx.projects()
        return tick(ctx, projects)

    def run(self, interval: float, on_tick: t.Callable[[TickReport], None]) -> None:
        """Tick every ``interval`` seconds until ``stopping`` is set (SIGTERM/SIGINT).

        Between ticks it sleeps on its pass inbox (``ao.lifecycle.passes``): an
        ``ao watch --once`` meanwhile wakes it, and the next tick, which starts after the
        request, answers it. A stop request ends the sleep at once, never a tick.
        """

        inbox = Inbox(watch_lock_path(self.config_path))
        serving = inbox.open()
        self._note(serving=serving)
        try:
            while not self.stopping:
                requests, started = inbox.pending(), time.time()  # before any fact is read
                report = self.pass_once()
                on_tick(report)
                inbox.serve(requests, self.project, report, self.pass_over, started)
                inbox.wait(interval, lambda: self.stopping)
        finally:
            self._note(serving=False)
            inbox.close()


def ensure_watcher(ctx: Context) -> tuple[str, str]:
    """Run ``ao watch`` in its own runtime session unless one already watches this config.

    Returns (state, detail): ``started``, ``running`` (adopted) or ``external`` (a watcher
    outside the runtime holds the lock). Never starts a second copy.
    """

    runtime = ctx.runtime()
    if isinstance(runtime, Isolating):  # a container or another host has no ao to run
        runtime = ctx.runtime(runtime.local_runtime())
    name = watcher_name(ctx.loaded.path)
    pane = runtime.probe().get(name)
    if pane is not None and pane.running:
        return "running", name
    fd = try_lock(watch_lock_path(ctx.loaded.path))
    if fd is None:
        return "external", "another `ao watch` holds the lock"
    os.close(fd)
    if pane is not None:  # a dead watcher: replace it
        runtime.destroy(runtime.handle(name), grace=0.5)
    env = {"AO_CONFIG": str(ctx.loaded.path)}
    if os.environ.get("AO_HOME"):
        env["AO_HOME"] = os.environ["AO_HOME"]
    runtime.create(
        RuntimeSpec(
            name=name,
            argv=[sys.executable, "-m", "ao", "watch"],
            cwd=ctx.loaded.path.parent,
            env=env,
        )
    )
    return "started", name
