"""``ao gc``: repair what crashes and manual meddling leave behind, without losing work.

- half-done spawns (``spawning`` records whose ``ao new`` process is gone): undo their steps;
- runtime sessions in this config's namespace (``{hash}-*``) that this ``$AO_HOME``
  started, with no session record, except the watcher's: end them;
- worktrees under the namespace with no session record: remove if they hold no work;
- lock files of sessions that no longer exist: delete;
- forge cache entries (``$AO_HOME/cache``) unused for 30 days: delete.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import typing as t

from ao.sdk import proc
from ao.sdk.contracts import WorkspaceInfo
from ao.sdk.home import ao_home
from ao.sdk.httpcache import stale_entries
from ao.sdk.proc import pid_alive
from ao.session.ops import handle_of, workspace_info
from ao.session.spawn import runtime_owner
from ao.store import events
from ao.store.locks import try_lock
from ao.store.paths import ProjectPaths, watcher_name
from ao.store.record import now
from ao.store.state import Session, SessionStore, Status, Step

if t.TYPE_CHECKING:
    from pathlib import Path

    from ao.session.context import Context, Project


@dataclasses.dataclass(frozen=True)
class GcAction:
    """One thing gc did (or would do with --dry-run)."""

    kind: (
        str  # half-spawn | orphan-<runtime> | orphan-worktree | stale-lock | kept-worktree
        # | stale-cache | quarantined | temp-file
    )
    target: str
    detail: str
    done: bool


def collect(ctx: Context, projects: list[Project], *, dry_run: bool = False) -> list[GcAction]:
    """Find and (unless ``dry_run``) fix leftovers in ``projects``."""
    actions: list[GcAction] = []
    for project in projects:
        actions += _unreadable(project, dry_run)
        actions += _half_spawns(ctx, project, dry_run)
        actions += _temp_files(project, dry_run)
    # every project of the config shares one runtime namespace: checked once, not per project
    actions += _orphan_runtime_sessions(ctx, projects, dry_run)
    for project in projects:
        actions += _orphan_worktrees(ctx, project, dry_run)
        actions += _stale_locks(project, dry_run)
    actions += _stale_cache(dry_run)
    return actions


def _stale_cache(dry_run: bool) -> list[GcAction]:
    stale = stale_entries(ao_home() / "cache")
    if not stale:
        return []
    if not dry_run:
        for path in stale:
            path.unlink(missing_ok=True)
    detail = f"{len(stale)} forge cache entries unused for 30 days"
    return [GcAction("stale-cache", str(ao_home() / "cache"), detail, not dry_run)]


def _unreadable(project: Project, dry_run: bool) -> list[GcAction]:
    """Session or archive files that cannot be read: moved to ``quarantine/``, never lost."""
    actions = []
    for path in project.store.unreadable():
        detail = "unreadable record moved to quarantine/"
        if not dry_run:
            detail = f"unreadable record moved to {project.store.quarantine(path)}"
        actions.append(GcAction("quarantined", str(path), detail, not dry_run))
    return actions


_TEMP = re.compile(r"\..+\.(\d+)\.(?:tmp|new)")


def _temp_files(project: Project, dry_run: bool) -> list[GcAction]:
    """Temp files of atomic writes whose writer died between write and rename."""

    root = project.paths.root
    dirs = [root, ao_home() / "cache", *(root / d for d in ("sessions", "archive", "logs"))]
    dirs.append(root / "notify-outbox")
    if (root / "outbox").is_dir():
        dirs += [d for d in (root / "outbox").iterdir() if d.is_dir()]
    actions = []
    for directory in dirs:
        if not directory.is_dir():
            continue
        for path in sorted(directory.iterdir()):
            m = _TEMP.fullmatch(path.name)
            if m is None or pid_alive(m.group(1)) or not path.is_file():
                continue
            if not dry_run:
                path.unlink(missing_ok=True)
            actions.append(
                GcAction("temp-file", str(path), "left by a writer that died", not dry_run)
            )
    return actions


def _busy(project: Project, session_id: str) -> bool:
    """Whether some ao process is working on the session (holds its operation lock)."""

    fd = try_lock(project.paths.locks / f"op-{session_id}.lock")
    if fd is None:
        return True
    os.close(fd)
    return False


def _half_spawns(ctx: Context, project: Project, dry_run: bool) -> list[GcAction]:
    actions = []
    for session in project.store.list():
        if session.status != Status.SPAWNING or pid_alive(session.spawner_pid):
            continue
        if _busy(project, session.id):
            continue  # its spawner or restorer is alive (the pid may have been reused)
        step = session.step or Step.RESERVED
        if step == Step.RESTORING:
            actions.append(_interrupted_restore(ctx, project, session, dry_run))
            continue
        detail = f"spawn interrupted at step {step}"
        if not dry_run:
            _end_runtime(ctx, project, session)
            workspace = ctx.workspace(session.workspace)
            info = workspace_info(session)
            unrecorded = project.paths.worktrees / session.id
            if info is None and str(unrecorded) in map(str, workspace.list(project.repo_path)):
                info = _checkout_info(project, unrecorded, session)  # killed before recording
            elif info is None and step == Step.WORKSPACE_CREATING:
                info = _unfinished_checkout(project, unrecorded, session)
            if info is not None and info.path.exists():
                if workspace.status(project.repo_path, info).has_work:
                    detail += f"; kept worktree {info.path} (it holds work)"
                else:
                    workspace.destroy(project.repo_path, info)
            elif info is not None:
                workspace.destroy(project.repo_path, info)  # drops a branch the spawn made
            project.store.update(
                session.id, status=Status.ERRORED, error=detail, step=Step.ROLLED_BACK,
                spawner_pid=None, repaired_at=now(),
            )  # fmt: skip
            events.append(
                project.paths,
                "session.errored",
                session=session.id,
                priority="warning",
                message=detail,
            )
        actions.append(GcAction("half-spawn", session.id, detail, not dry_run))
    return actions


def _end_runtime(ctx: Context, project: Project, session: Session) -> None:
    """End the session's runtime: the recorded one, else (killed before recording it) the
    one its name would have, if this ``$AO_HOME`` started it."""

    runtime = ctx.runtime(session.runtime)
    handle = handle_of(session)
    if handle is None:
        name = project.paths.runtime_name(session.id)
        if name not in runtime.list_names(owner=runtime_owner()):
            return
        handle = runtime.handle(name)
    runtime.destroy(handle, grace=0.5)


def _interrupted_restore(
    ctx: Context, project: Project, session: Session, dry_run: bool
) -> GcAction:
    """A restore killed half-way: end what it started; the worktree stays the session's."""
    detail = "restore interrupted"
    if not dry_run:
        _end_runtime(ctx, project, session)
        detail += f"; `ao restore {session.id}` again"
        project.store.update(
            session.id, status=Status.ERRORED, error=detail, spawner_pid=None, repaired_at=now()
        )
        events.append(project.paths, "session.errored", session=session.id,
                      priority="warning", message=detail)  # fmt: skip
    return GcAction("half-spawn", session.id, detail, not dry_run)


def _orphan_runtime_sessions(
    ctx: Context, projects: list[Project], dry_run: bool
) -> list[GcAction]:
    """Every ``{hash}-*`` runtime session this ``$AO_HOME`` started that is neither a live
    record nor the watcher (another state root's sessions are never touched). The action
    is ``orphan-<runtime plugin>``."""

    if not projects:
        return []
    namespace = f"{projects[0].paths.hash}-"
    known = _recorded_runtime_names(projects[0].paths) | {watcher_name(ctx.loaded.path)}
    actions = []
    default = ctx.config.defaults.runtime
    for runtime_name in dict.fromkeys(p.config.runtime or default for p in projects):
        runtime = ctx.runtime(runtime_name)
        for name in runtime.list_names(owner=runtime_owner()):
            if not name.startswith(namespace) or name in known:
                continue
            if not dry_run:
                runtime.destroy(runtime.handle(name), grace=0.5)
            detail = f"{runtime_name} session without a session record"
            actions.append(GcAction(f"orphan-{runtime_name}", name, detail, not dry_run))
    return actions


def _recorded_runtime_names(paths: ProjectPaths) -> set[str]:
    """Runtime names of every live record in the config's namespace.

    Every ``{hash}-{project}/`` directory counts, including projects removed from the
    config with ``remove-project --force``: their sessions run on, unmanaged, not orphaned.
    """
    names = set()
    prefix = f"{paths.hash}-"
    for root in paths.root.parent.glob(f"{prefix}*"):
        if not (root / "sessions").is_dir():
            continue
        other = ProjectPaths(paths.config_path, root.name.removeprefix(prefix), root.parent)
        for session in SessionStore(other).list():
            names.add(other.runtime_name(session.id))
            if session.runtime_name:
                names.add(session.runtime_name)
    return names


def _orphan_worktrees(ctx: Context, project: Project, dry_run: bool) -> list[GcAction]:
    root = project.paths.worktrees
    if not root.is_dir():
        return []
    # A record owns `worktrees/<id>` from the moment its id is reserved: spawn records
    # `worktree=` only after post-create, and a spawn in progress must keep its checkout.
    live = {str(s.worktree) for s in project.store.list() if s.worktree}
    workspace = ctx.workspace(project.config.workspace)
    registered = {str(p) for p in workspace.list(project.repo_path)}
    actions = []
    for path in sorted(root.iterdir()):
        if str(path) in live or project.store.exists(path.name) or not path.is_dir():
            continue
        if str(path) not in registered:
            actions.append(
                GcAction(
                    "kept-worktree",
                    str(path),
                    "not a git worktree of the project; left alone",
                    False,
                )
            )
            continue
        info = _checkout_info(project, path)
        status = workspace.status(project.repo_path, info)
        if status.has_work:  # ignored files made after setup and nested repos count too
            detail = f"orphan worktree holds {status.describe()}"
            actions.append(GcAction("kept-worktree", str(path), detail, False))
            continue
        if not dry_run:
            workspace.destroy(project.repo_path, info)
        actions.append(
            GcAction("orphan-worktree", str(path), "worktree without a session record", not dry_run)
        )
    return actions


def _checkout_info(project: Project, path: Path, session: Session | None = None) -> WorkspaceInfo:
    """A checkout found on disk, described as spawn would have recorded it.

    The branch counts as the spawn's own only when it is the one spawn names itself
    (``ao/<id>``, no ``--branch``); destroying then drops it only if it holds no commit
    of its own, so no work is lost either way. Any other branch is kept.
    """

    r = proc.run(["git", "symbolic-ref", "--short", "HEAD"], cwd=path, timeout=10, check=False)
    branch = r.stdout.strip()
    return WorkspaceInfo(
        path=path,
        branch=branch,
        base=project.config.default_branch,
        created_branch=session is not None and _own_branch(session) == branch,
    )


def _own_branch(session: Session) -> str | None:
    """The branch a spawn of ``session`` creates itself, if it names it (no ``--branch``)."""
    return None if session.branch_requested else f"ao/{session.id}"


def _unfinished_checkout(project: Project, path: Path, session: Session) -> WorkspaceInfo | None:
    """A ``git worktree add -b`` killed before it registered the worktree: git may have
    made the branch and part of the directory. Nothing else wrote there (the agent never
    started, and spawn refuses an existing path), so the directory goes; the branch goes
    only if spawn named it and it holds no commit of its own."""

    if path.exists() and not (path / ".git").exists():
        shutil.rmtree(path, ignore_errors=True)
    branch = _own_branch(session)
    if branch is None or path.exists():
        return None
    return WorkspaceInfo(
        path=path, branch=branch, base=project.config.default_branch, created_branch=True
    )


def _stale_locks(project: Project, dry_run: bool) -> list[GcAction]:
    locks = project.paths.locks
    if not locks.is_dir():
        return []
    actions = []
    for lock in sorted([*locks.glob("session-*.lock"), *locks.glob("op-*.lock")]):
        session_id = lock.name.partition("-")[2].removesuffix(".lock")
        if project.store.exists(session_id):
            continue
        fd = try_lock(lock)
        if fd is None:
            continue  # held right now: not stale
        try:
            if not dry_run:
                lock.unlink()
        finally:
            os.close(fd)
        actions.append(
            GcAction(
                "stale-lock", str(lock), "lock of a session that no longer exists", not dry_run
            )
        )
    return actions
