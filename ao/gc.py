"""``ao gc``: repair what crashes and manual meddling leave behind, without losing work.

- half-done spawns (``spawning`` records whose ``ao new`` process is gone): undo their steps;
- tmux sessions in this config's namespace (``{hash}-*``) with no session record, except
  the watcher's: end them;
- worktrees under the namespace with no session record: remove if they hold no work;
- lock files of sessions that no longer exist: delete;
- forge cache entries (``$AO_HOME/cache``) unused for 30 days: delete.
"""

from __future__ import annotations

import dataclasses
import os
import typing as t

from ao import events
from ao.contracts import RuntimeHandle, WorkspaceInfo
from ao.paths import ProjectPaths
from ao.state import SessionStore, now_iso

if t.TYPE_CHECKING:
    from pathlib import Path

    from ao.context import Context, Project


@dataclasses.dataclass(frozen=True)
class GcAction:
    """One thing gc did (or would do with --dry-run)."""

    kind: (
        str  # half-spawn | orphan-tmux | orphan-worktree | stale-lock | kept-worktree | stale-cache
    )
    target: str
    detail: str
    done: bool


def _pid_alive(pid_text: str) -> bool:
    if not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def collect(ctx: Context, projects: list[Project], *, dry_run: bool = False) -> list[GcAction]:
    """Find and (unless ``dry_run``) fix leftovers in ``projects``."""
    actions: list[GcAction] = []
    for project in projects:
        actions += _half_spawns(ctx, project, dry_run)
    # every project of the config shares one tmux namespace: checked once, not per project
    actions += _orphan_tmux(ctx, projects, dry_run)
    for project in projects:
        actions += _orphan_worktrees(ctx, project, dry_run)
        actions += _stale_locks(project, dry_run)
    actions += _stale_cache(dry_run)
    return actions


def _stale_cache(dry_run: bool) -> list[GcAction]:
    from ao.httpcache import stale_entries
    from ao.paths import ao_home

    stale = stale_entries(ao_home() / "cache")
    if not stale:
        return []
    if not dry_run:
        for path in stale:
            path.unlink(missing_ok=True)
    detail = f"{len(stale)} forge cache entries unused for 30 days"
    return [GcAction("stale-cache", str(ao_home() / "cache"), detail, not dry_run)]


def _half_spawns(ctx: Context, project: Project, dry_run: bool) -> list[GcAction]:
    from ao.sessions import handle_of, workspace_info

    actions = []
    for session in project.store.list():
        if session.status != "spawning" or _pid_alive(session.get("spawner_pid")):
            continue
        detail = f"spawn interrupted at step {session.get('step') or 'reserved'}"
        if not dry_run:
            handle = handle_of(session)
            if handle is None and session.get("step") in ("workspace", "runtime"):
                name = project.paths.tmux_name(session.id)
                handle = RuntimeHandle("tmux", name, f"={name}")
            if handle is not None:
                ctx.runtime(session.get("runtime") or None).destroy(handle, grace=0.5)
            workspace = ctx.workspace(session.get("workspace") or None)
            info = workspace_info(session)
            unrecorded = project.paths.worktrees / session.id
            if info is None and str(unrecorded) in map(str, workspace.list(project.repo_path)):
                info = _checkout_info(project, unrecorded)  # killed before recording it
            if info is not None and info.path.exists():
                if workspace.status(project.repo_path, info).has_work:
                    detail += f"; kept worktree {info.path} (it holds work)"
                else:
                    workspace.destroy(project.repo_path, info)
            project.store.update(
                session.id,
                {"status": "errored", "error": detail, "step": "rolled-back", "spawner_pid": None,
                 "repaired_at": now_iso()},
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


def _orphan_tmux(ctx: Context, projects: list[Project], dry_run: bool) -> list[GcAction]:
    """Every ``{hash}-*`` tmux session that is neither a live record nor the watcher."""
    from ao.lifecycle.watch import watcher_name

    if not projects:
        return []
    namespace = f"{projects[0].paths.hash}-"
    known = _recorded_tmux_names(projects[0].paths) | {watcher_name(ctx.loaded.path)}
    actions = []
    for runtime_name in dict.fromkeys(p.config.runtime for p in projects):
        runtime = ctx.runtime(runtime_name)
        for name in runtime.list_names():
            if not name.startswith(namespace) or name in known:
                continue
            if not dry_run:
                runtime.destroy(RuntimeHandle("tmux", name, f"={name}:"), grace=0.5)
            actions.append(
                GcAction("orphan-tmux", name, "tmux session without a session record", not dry_run)
            )
    return actions


def _recorded_tmux_names(paths: ProjectPaths) -> set[str]:
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
            names.add(other.tmux_name(session.id))
            if session.get("tmux_name"):
                names.add(session.get("tmux_name"))
    return names


def _orphan_worktrees(ctx: Context, project: Project, dry_run: bool) -> list[GcAction]:
    root = project.paths.worktrees
    if not root.is_dir():
        return []
    # A record owns `worktrees/<id>` from the moment its id is reserved: spawn records
    # `worktree=` only after post-create, and a spawn in progress must keep its checkout.
    live = {s.get("worktree") for s in project.store.list()}
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
        if status.has_work:
            from ao.sessions import describe_work

            detail = f"orphan worktree holds {describe_work(len(status.dirty), status.unpushed)}"
            actions.append(GcAction("kept-worktree", str(path), detail, False))
            continue
        if not dry_run:
            workspace.destroy(project.repo_path, info)
        actions.append(
            GcAction("orphan-worktree", str(path), "worktree without a session record", not dry_run)
        )
    return actions


def _checkout_info(project: Project, path: Path) -> WorkspaceInfo:
    """A checkout found on disk, described as spawn would have recorded it.

    Whether the spawn created its branch is unknown, so the branch is always kept.
    """
    from ao import proc

    r = proc.run(["git", "symbolic-ref", "--short", "HEAD"], cwd=path, timeout=10, check=False)
    return WorkspaceInfo(
        path=path,
        branch=r.stdout.strip(),
        base=project.config.default_branch,
        created_branch=False,
    )


def _stale_locks(project: Project, dry_run: bool) -> list[GcAction]:
    from ao.locks import try_lock

    locks = project.paths.locks
    if not locks.is_dir():
        return []
    actions = []
    for lock in sorted(locks.glob("session-*.lock")):
        session_id = lock.name.removeprefix("session-").removesuffix(".lock")
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
