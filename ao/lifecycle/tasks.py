"""Tasks move with their sessions; completion is decided by evidence, not the agent's word.

Each watcher tick, after the sessions moved, ``advance`` looks at every open task of a
project: its session waiting to start is ``pending``, working is ``running``, asking a
question or blocked is ``needs_input`` (with the question). When the agent has finished
the turn the task started (its session is ``ready`` since the task's ``turn_at``), the
task's verify commands run in the session's worktree: all pass, ``completed``; one fails,
its output goes back to the agent as a message (a new turn) until ``max_attempts``
verifications failed, then ``failed`` and a human is notified. A session that ended
(errored, exited, stopped) fails its task; a merged one completes it.

Every transition is an event (``task.<state>``, ``task.verify_failed``). The session that
delegated a task (its ``parent``: an orchestrator agent) is told of needs-input,
verification failures and endings as messages, through the same send and outbox as
reactions: the engine keeps the books, the agent only decides.
"""

from __future__ import annotations

import subprocess
import typing as t

from ao.lifecycle import reactions as rx
from ao.lifecycle import verifying
from ao.lifecycle.actions import notify
from ao.sdk.errors import AoError
from ao.sdk.textsafe import strip_controls
from ao.session.ops import handle_of, send, sync_copy
from ao.store import events
from ao.store.record import Status, now
from ao.store.tasks import TaskRecord, TaskState

if t.TYPE_CHECKING:
    from collections.abc import Mapping

    from ao.lifecycle.report import TickReport
    from ao.session.context import Context, Project
    from ao.store.state import Session

WAITING = (Status.QUEUED, Status.SPAWNING)
ASKING = (Status.NEEDS_INPUT, Status.BLOCKED)
FAILED_SESSION = (Status.ERRORED, Status.EXITED, Status.KILLED)
MERGED = (Status.MERGED, Status.DONE)
PR_STATUSES = (
    Status.PR_OPEN, Status.CI_FAILED, Status.REVIEW_PENDING, Status.CHANGES_REQUESTED,
    Status.APPROVED, Status.MERGEABLE,
)  # fmt: skip


def advance(
    ctx: Context, project: Project, activity: Mapping[str, str], report: TickReport
) -> None:
    """Move every open task of ``project`` one step (``activity``: what this tick saw
    each session's agent doing, by session id)."""
    for task in project.tasks.list():
        if task.ended or task.session is None:
            continue
        try:
            _step(ctx, project, task, activity.get(task.session, "unknown"), report)
        except Exception as exc:  # one task's failure must not end the pass
            detail = f"{type(exc).__name__}: {exc}"
            report.errors.append((task.session, f"{task.id}: {detail}"))
            events.append(project.paths, "tick.error", session=task.session, priority="warning",
                          message=f"{task.id}: {detail}", data={"task": task.id})  # fmt: skip


def _step(
    ctx: Context, project: Project, task: TaskRecord, activity: str, report: TickReport
) -> None:
    session = _session(project, t.cast(str, task.session))
    status = session.status if session is not None else None
    if session is None or status in FAILED_SESSION:
        why = "was removed" if session is None else f"is {status}"
        detail = session.error or session.status_reason if session is not None else None
        reason = f"its session {task.session} {why}" + (f" ({detail})" if detail else "")
        _end(ctx, project, task, TaskState.FAILED, reason=reason, session=session)
    elif status in MERGED:
        _end(ctx, project, task, TaskState.COMPLETED, session=session,
             summary="its pull request was merged")  # fmt: skip
    elif status in WAITING:
        _move(ctx, project, task, TaskState.PENDING)
    elif status in ASKING:
        if task.state != TaskState.NEEDS_INPUT:
            question = _question(ctx, session)
            _move(ctx, project, task, TaskState.NEEDS_INPUT, question=question)
    elif _turn_over(task, session, activity):
        verify(ctx, project, task, session, report)
    elif task.state != TaskState.RUNNING:
        _move(ctx, project, task, TaskState.RUNNING, question=None)


def _session(project: Project, session_id: str) -> Session | None:
    if project.store.exists(session_id):
        return project.store.read(session_id)
    archived = project.store.archived(session_id)
    return archived[1] if archived is not None else None


def _turn_over(task: TaskRecord, session: Session, activity: str) -> bool:
    """The agent finished the turn the task began (not an earlier one)."""
    if session.status == Status.READY:
        since = session.status_since
        return task.turn_at is None or since is None or since >= task.turn_at
    return session.status in PR_STATUSES and activity == "ready"


def _question(ctx: Context, session: Session) -> str:
    """What the agent asks: the last lines of its screen, or why it is blocked."""
    handle = handle_of(session)
    screen = ""
    if handle is not None:
        try:
            screen = ctx.runtime(session.runtime).capture(handle, lines=40)
        except AoError:
            screen = ""
    lines = [ln.rstrip() for ln in strip_controls(screen).splitlines() if ln.strip()]
    text = "\n".join(lines[-10:])
    return (text or session.status_reason or "the agent is waiting for input")[-1500:]


# ------------------------------------------------------------------------ verification


def verify(
    ctx: Context, project: Project, task: TaskRecord, session: Session, report: TickReport
) -> TaskRecord:
    """The agent finished the task's turn: start verifying it in its worktree (a job apart
    from this pass, ``verifying``), or act on the outcome once a later pass finds it."""
    turn = f"{task.turn_at or ''}|{session.status_since or ''}"
    job = verifying.read(project.paths, task.id)
    if job is not None and job.turn != turn:  # the agent worked again since: a new turn
        verifying.end(project.paths, task.id)
        job = None
    if job is None:
        return _start_verifying(ctx, project, task, session, turn, report)
    where = verifying.state(job)
    if where == "running":
        return task
    if where == "lost":  # its process was killed without a result: run it again
        verifying.start(project.paths, job)
        return task
    failure = job.failure
    if where == "overdue":
        failure = ("verification", f"did not finish within {job.deadline - job.started:g}s", "")
    verifying.end(project.paths, task.id)
    return _verified(ctx, project, task, session, failure)


def _start_verifying(
    ctx: Context, project: Project, task: TaskRecord, session: Session, turn: str,
    report: TickReport,
) -> TaskRecord:  # fmt: skip
    try:  # a copy on another host first: what is verified is the agent's work
        sync_copy(ctx, session)
    except AoError as exc:
        report.errors.append((session.id, f"{task.id}: its work was not brought back: {exc}"))
        return task  # verified on a later pass
    task = _move(ctx, project, task, TaskState.VERIFYING)
    worktree = session.worktree
    if worktree is None or not worktree.is_dir():
        return _end(ctx, project, task, TaskState.FAILED, session=session,
                    reason=f"its worktree {worktree} is gone")  # fmt: skip
    if not task.verify and not task.gate:
        return _verified(ctx, project, task, session, None)
    verifying.start(project.paths, verifying.Job(
        task=task.id, turn=turn, worktree=str(worktree), commands=[list(c) for c in task.verify],
        gate=task.gate, timeout=ctx.config.tasks.verify_timeout,
        config=str(project.paths.config_path), project=project.id,
    ))  # fmt: skip
    return task


def _verified(
    ctx: Context, project: Project, task: TaskRecord, session: Session,
    failure: verifying.Failure | None,
) -> TaskRecord:  # fmt: skip
    """Act on a verification's outcome: complete, send the failure back, or fail."""
    current = project.tasks.read(task.id)
    if current.state != TaskState.VERIFYING:
        return current  # cancelled while the checks ran
    attempts = current.attempts + (1 if task.verify or task.gate else 0)
    if failure is None:
        n = len(task.verify) + (1 if task.gate else 0)
        summary = (
            f"{n} verify command{'s' if n != 1 else ''} passed"
            if n
            else ("the agent finished its turn (no verify commands)")
        )
        return _end(ctx, project, current, TaskState.COMPLETED, session=session,
                    summary=summary, attempts=attempts, output=None, reason=None)  # fmt: skip
    command, code, output = failure
    reason = f"`{command}` {code}"
    if attempts >= current.max_attempts:
        return _end(ctx, project, current, TaskState.FAILED, session=session, attempts=attempts,
                    reason=f"verification failed {attempts} times; last: {reason}",
                    output=output)  # fmt: skip
    return _retry(ctx, project, current, session, attempts, reason, output)


def reopen(
    ctx: Context, project: Project, task: TaskRecord, session: Session, message: str,
    **changes: t.Any,
) -> tuple[TaskRecord, str]:  # fmt: skip
    """Send ``message`` to the task's agent and start a new turn on the task: it is
    verified again when that turn ends. Returns the task and how the message went."""
    delivery = send(ctx, project, session, message, wait=10.0, lock_timeout=15.0)
    when = now()
    project.store.update(session.id, status=Status.WORKING, status_since=when,
                         status_reason="sent back to the agent")  # fmt: skip
    task = _move(ctx, project, task, TaskState.RUNNING, turn_at=when, event=False, **changes)
    return task, delivery.status


def _retry(
    ctx: Context, project: Project, task: TaskRecord, session: Session, attempts: int,
    reason: str, output: str,
) -> TaskRecord:  # fmt: skip
    """Send a failed verification back to the agent: a new turn on the same task."""
    message = (
        f"Verification of your task failed (attempt {attempts} of {task.max_attempts}): "
        f"{reason}.\n\nOutput:\n```\n{output.strip() or '(no output)'}\n```\n\n"
        "Fix the cause (do not skip, weaken or delete the check) and finish your turn; "
        "ao runs the verification again."
    )
    task, status = reopen(ctx, project, task, session, message, attempts=attempts,
                          reason=reason, output=output)  # fmt: skip
    events.append(
        project.paths, "task.verify_failed", session=session.id, priority="warning",
        message=f"{task.id}: {reason}; sent back to {session.id} ({status})",
        data={"task": task.id, "attempt": attempts, "max_attempts": task.max_attempts,
              "delivery": status},
    )  # fmt: skip
    _tell_parent(ctx, project, task, f"[ao] {task.id} ({session.id}): verification failed "
                 f"(attempt {attempts} of {task.max_attempts}): {reason}. Sent back to its "
                 "agent.")  # fmt: skip
    return task


# ------------------------------------------------------------------------ transitions


def _move(
    ctx: Context, project: Project, task: TaskRecord, state: TaskState, *, event: bool = True,
    **changes: t.Any,
) -> TaskRecord:  # fmt: skip
    before = task.state
    task = project.tasks.update(task.id, state=state, **changes)
    if event and before != state:
        events.append(
            project.paths, f"task.{state}", session=task.session,
            priority="urgent" if state == TaskState.NEEDS_INPUT else "info",
            message=f"{task.id}: {before} → {state}",
            data={"task": task.id, "from": before, "to": state, "question": task.question},
        )  # fmt: skip
        if state == TaskState.NEEDS_INPUT:
            _tell_parent(ctx, project, task, f"[ao] {task.id} ({task.session}) needs input:\n"
                         f"{task.question}\nAnswer with send_to_agent.")  # fmt: skip
    return task


def _end(
    ctx: Context, project: Project, task: TaskRecord, state: TaskState, *,
    session: Session | None, **changes: t.Any,
) -> TaskRecord:  # fmt: skip
    """Complete or fail ``task`` with its result (branch, commits, PR) filled in."""
    verifying.end(project.paths, task.id)  # one under way is for nobody now
    if session is not None:
        changes.setdefault("branch", session.branch)
        changes.setdefault("pr", session.pr)
        changes.setdefault("commits", _commits(ctx, project, session))
    task = _move(ctx, project, task, state, question=None, **changes)
    if state == TaskState.FAILED:
        planned = rx.Planned(
            "task-failed", "escalate", "urgent",
            f"{task.id} failed: {task.reason}\n\nGoal: {task.goal}", "a task failed", task.id,
        )  # fmt: skip
        notify(project, task.session or "", planned)
    what = "completed" if state == TaskState.COMPLETED else f"{state}: {task.reason}"
    result = f"; branch {task.branch}" if task.branch else ""
    result += f", {len(task.commits)} commit(s)" if task.commits else ""
    result += f", PR {task.pr}" if task.pr else ""
    _tell_parent(ctx, project, task, f"[ao] {task.id} ({task.session}) {what}{result}.")
    return task


def _commits(ctx: Context, project: Project, session: Session) -> tuple[str, ...]:
    """The session's own commits (``base..HEAD``, newest first, at most 20)."""
    if session.worktree is None or not session.worktree.is_dir():
        return ()
    base = session.base or project.config.default_branch
    try:
        out = subprocess.run(
            ["git", "log", "--format=%h %s", "-n", "20", f"{base}..HEAD"],
            cwd=session.worktree, capture_output=True, text=True, timeout=30, check=False,
        ).stdout  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return ()
    return tuple(line for line in out.splitlines() if line.strip())


def _tell_parent(ctx: Context, project: Project, task: TaskRecord, text: str) -> None:
    """A message to the session that delegated ``task`` (queued while it is busy)."""
    if not task.parent:
        return
    try:
        owner = ctx.project(task.parent_project or project.id)
        if not owner.store.exists(task.parent):
            return
        parent = owner.store.read(task.parent)
        send(ctx, owner, parent, text, wait=2.0, lock_timeout=15.0)
    except AoError as exc:
        events.append(project.paths, "message.failed", session=task.parent, priority="warning",
                      message=f"{task.id}: could not tell {task.parent}: {exc}")  # fmt: skip
