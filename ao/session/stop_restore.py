"""Stopping and restoring sessions: the two operations that end or revive an agent.

Both hold the session's operation lock from their first step to their last (a stop
racing a restore runs wholly before or after it) and mark each step with a fault point
(``ao.store.faults``), so the fault-injection suite can kill them anywhere and check that
``ao gc`` and the next command finish the job without losing work.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
import typing as t
from pathlib import Path

from ao.sdk.contracts import WorkspaceInfo, WorkspaceRequest
from ao.sdk.errors import AoError, ConflictError, NotFoundError
from ao.session.delivery import deliver
from ao.session.keepwork import settle
from ao.session.ops import GONE, handle_of, view, workspace_info
from ao.session.spawn import dialog_logger, launch, workspace_request
from ao.store import events, faults
from ao.store.locks import write_private
from ao.store.record import Changes, now
from ao.store.state import Session, Status, Step

if t.TYPE_CHECKING:
    from ao.session.context import Context, Project


@dataclasses.dataclass(frozen=True)
class StopResult:
    """What ``stop`` did with one session."""

    session_id: str
    worktree: str | None
    worktree_removed: bool
    snapshot: str | None  # WIP commit that saved uncommitted work, when --force removed it
    kept_reason: str | None
    archived: str
    saved: str | None = None  # folder holding the ignored files and nested repos --force moved


def stop(
    ctx: Context,
    project: Project,
    session: Session,
    *,
    force: bool = False,
    final_status: Status = Status.KILLED,
    lock_timeout: float = 60.0,
) -> StopResult:
    """End the agent, archive the record, and remove the worktree only if no work is lost.

    Without ``force`` a worktree with uncommitted or unpushed work is kept. With ``force``
    uncommitted work is first saved as a WIP commit on the session's branch, so removing
    the worktree still loses nothing. The archived record says ``final_status`` (the
    watcher archives a merged session as ``done``).

    The whole stop holds the session's operation lock and works on the record as it is
    once the lock is held: a restore or send racing it finishes before or starts after.
    """
    project.paths.ensure()  # a broken state dir fails here, before the agent is ended
    with project.store.operation(session.id, timeout=lock_timeout):
        current = project.store.read(session.id)
        return _stop_locked(ctx, project, current, force=force, final_status=final_status)


def _stop_locked(
    ctx: Context, project: Project, session: Session, *, force: bool, final_status: Status
) -> StopResult:
    handle = handle_of(session)
    runtime = ctx.runtime(session.runtime)
    if handle is not None:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        dest = project.paths.logs / f"{session.id}_{stamp}.screen.txt"
        with contextlib.suppress(NotFoundError):  # keep the last screen for `ao logs`
            write_private(dest, runtime.capture(handle, 5000) + "\n")
        faults.point("stop.screen-saved")
        runtime.destroy(handle)
        faults.point("stop.runtime-destroyed")
    # keeps a checkout holding work, or saves the work first (--force)
    settled = settle(ctx, project, session, workspace_info(session), force=force)
    removed, snapshot, kept = settled.removed, settled.snapshot, settled.kept
    changes: Changes = {"status": final_status, "stopped_at": now(), "worktree_removed": removed}
    if snapshot:
        changes["snapshot"] = snapshot
    if settled.saved:
        changes["saved"] = Path(settled.saved)
    faults.point("stop.workspace-done")
    archived = project.store.archive(session.id, **changes)
    faults.point("stop.archived")
    events.append(
        project.paths, "session.stopped", session=session.id,
        message=f"{session.id} stopped" + (f"; worktree kept: {kept}" if kept else "")
        + (f"; work git does not keep moved to {settled.saved}" if settled.saved else ""),
        data={"worktree_removed": removed, "snapshot": snapshot, "kept": kept,
              "saved": settled.saved},
    )  # fmt: skip
    if final_status == Status.KILLED:  # the reference's name for a session stopped by hand
        events.append(project.paths, "session.killed", session=session.id, priority="info",
                      message=f"{session.id} killed", data={"session": session.id,
                      "from": session.status_text, "to": Status.KILLED.value})  # fmt: skip
    return StopResult(
        session.id, str(session.worktree) if session.worktree else None, removed, snapshot, kept,
        str(archived), settled.saved,
    )  # fmt: skip


def restore(
    ctx: Context,
    project: Project,
    session_id: str,
    *,
    resend: bool = False,
    lock_timeout: float = 60.0,
) -> Session:
    """Bring an exited, stopped or blocked session back: worktree, agent process, same id
    and branch (a blocked agent is ended first and resumes its conversation).

    Holds the session's operation lock throughout. Everything that can be checked is
    checked before the record changes; a failure after that puts the record back as it
    was (archived again, or live with the error) and ends the agent it started.
    """
    with project.store.operation(session_id, timeout=lock_timeout):
        return _restore_locked(ctx, project, session_id, resend=resend)


def _restore_locked(ctx: Context, project: Project, session_id: str, *, resend: bool) -> Session:

    store = project.store
    archived_path: Path | None = None
    if store.exists(session_id):
        session = store.read(session_id)
        handle = handle_of(session)
        runtime = ctx.runtime(session.runtime)
        if handle is not None:
            pane = runtime.probe().get(handle.name, GONE)
            if pane.unreachable:
                raise ConflictError(
                    f"session {session_id} cannot be seen: {pane.unreachable}; nothing was changed",
                    hint=f"`ao restore {session_id}` again once it is back",
                )
            # a blocked agent (bad key, missing variable, usage limit) cannot go on by
            # itself: restarting it under the caller's current environment is the fix
            if pane.running and view(ctx, session).status != "blocked":
                raise ConflictError(
                    f"session {session_id} is still running",
                    hint=f"`ao attach {session_id}`, or `ao send {session_id} MESSAGE`",
                )
            if pane.alive:
                runtime.destroy(handle, grace=0.5)
    else:
        found = store.archived(session_id)
        if found is None:
            raise NotFoundError(
                f"no session {session_id!r}, live or archived", hint="see `ao list --all`"
            )
        archived_path, session = found
        runtime = ctx.runtime(session.runtime)
    info = workspace_info(session)
    if info is None:
        raise ConflictError(
            f"session {session_id} never got a worktree; start a new session instead"
        )
    original = session
    marks: Changes = {"status": Status.SPAWNING, "step": Step.RESTORING, "spawner_pid": os.getpid()}
    if archived_path is not None:
        session = store.unarchive(archived_path, **marks)
    else:
        session = store.update(session_id, **marks)
    faults.point("restore.record")
    handle = None
    try:
        if not info.path.exists():
            request = workspace_request(ctx, project, session_id, info.branch, info.base)
            info = _recreate_workspace(ctx, session, request)
        faults.point("restore.workspace")
        task = (session.task or "") if resend else ""
        handle, mode = launch(
            ctx, project, session_id, session.agent or "", info.path, task,
            resume=session.as_kv(),
        )  # fmt: skip
        faults.point("restore.runtime")
        session = store.update(
            session_id, status=Status.WORKING, step=Step.DONE, runtime_name=handle.name,
            runtime_target=handle.target, worktree=info.path, restored_at=now(), error=None,
            spawner_pid=None,
        )  # fmt: skip
    except BaseException as exc:
        if handle is not None:
            with contextlib.suppress(Exception):
                runtime.destroy(handle, grace=0.5)
        _undo_restore(project, session_id, original, archived=archived_path is not None, exc=exc)
        raise
    if mode == "post-launch" and task:
        deliver(
            runtime, ctx.agent(session.agent or ""), handle, task, wait=30.0,
            session=session.as_kv(), on_dialog=dialog_logger(project, session_id),
        )  # fmt: skip
    events.append(
        project.paths, "session.restored", session=session_id, message=f"{session_id} restored"
    )
    return session


def _recreate_workspace(ctx: Context, session: Session, request: WorkspaceRequest) -> WorkspaceInfo:
    """The session's worktree again, from its branch (local, else on origin).

    A clean stop deletes a branch that ao created and that holds no commit of its own
    (everything on it is in the base): recreating it from the base is the same work.
    """
    workspace = ctx.workspace(session.workspace)
    try:
        return workspace.restore(request)
    except NotFoundError:
        if session.created_branch is not True:
            raise NotFoundError(
                f"branch '{request.branch}' of session {session.id} is gone, locally and on "
                "origin, and ao did not create it",
                hint="start a new session (`ao new`), or recreate the branch and restore again",
            ) from None
        return workspace.create(request)


def _undo_restore(
    project: Project,
    session_id: str,
    original: Session,
    *,
    archived: bool,
    exc: BaseException,
) -> None:
    """Put a session's record back as it was before a failed restore, noting why."""

    reason = str(exc) if isinstance(exc, AoError) else f"{type(exc).__name__}: {exc}"
    back: Changes = {
        "status": original.status or Status.KILLED,
        "step": original.step,
        "spawner_pid": None,
        "restore_error": reason,
    }
    with contextlib.suppress(Exception):  # the original error is the one to report
        if archived:
            project.store.archive(session_id, **back)
        else:
            project.store.update(session_id, **back)
        events.append(
            project.paths, "session.restore_failed", session=session_id, priority="warning",
            message=f"restore of {session_id} failed: {reason}",
        )  # fmt: skip
