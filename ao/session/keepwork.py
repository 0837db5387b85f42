"""What stopping a session does with its checkout: remove it only when nothing is lost.

Work is what ``WorkspaceStatus.has_work`` says: uncommitted changes, unpushed commits,
ignored files made after setup and nested repositories. Without ``force`` a checkout
holding work is kept. With ``force`` the ignored files and nested repositories are moved
to ``<project>/saved/<session>_<stamp>/`` (same relative paths), uncommitted changes
become a WIP commit on the branch, then the checkout goes; a step that fails keeps the
checkout and says why, so a forced stop never ends half-way with work lost.
"""

from __future__ import annotations

import dataclasses
import time
import typing as t
from pathlib import Path

from ao.sdk.contracts import SetsAside, WorkspaceInfo, WorkspaceStatus
from ao.sdk.errors import AoError, ConflictError
from ao.store import events

if t.TYPE_CHECKING:
    from ao.sdk.contracts import Workspace
    from ao.session.context import Context, Project
    from ao.store.state import Session


@dataclasses.dataclass(frozen=True)
class Settled:
    """What became of a stopped session's checkout."""

    removed: bool
    snapshot: str | None = None  # WIP commit holding its uncommitted changes
    kept: str | None = None  # why the checkout is still there
    saved: str | None = None  # folder holding the ignored files and nested repos moved aside


def settle(
    ctx: Context, project: Project, session: Session, info: WorkspaceInfo | None, *, force: bool
) -> Settled:
    """Keep the checkout of a stopping session if it holds work; with ``force`` save the
    work (set aside, WIP commit) and remove it. Never raises for a checkout it keeps."""
    if info is None:
        return Settled(removed=False)
    if not info.path.exists():
        return Settled(removed=True)
    workspace = ctx.workspace(session.workspace)
    repo = project.repo_path
    try:
        status = workspace.status(repo, info)
    except AoError as exc:
        return Settled(removed=False, kept=f"its state could not be read: {exc.message}")
    if status.has_work and not force:
        return Settled(removed=False, kept=status.describe())
    dest = saved_dir(project, session.id)
    snapshot: str | None = None
    try:
        if status.ignored or status.nested:
            _set_aside(workspace, project, session, info, status, dest)
        if status.dirty:
            snapshot = workspace.snapshot(repo, info, f"ao: WIP from session {session.id}")
        workspace.destroy(repo, info, force=True)
    except (AoError, OSError) as exc:
        why = exc.message if isinstance(exc, AoError) else str(exc)
        saved = str(dest) if dest.exists() else None
        where = f"; what it moved aside is in {saved}" if saved else ""
        return Settled(False, snapshot, f"removing it failed: {why}{where}", saved)
    return Settled(True, snapshot, None, str(dest) if dest.exists() else None)


def saved_dir(project: Project, session_id: str) -> Path:
    """A new folder name under ``<project>/saved/`` for what one stop moves aside."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    base = project.paths.root / "saved" / f"{session_id}_{stamp}"
    dest, n = base, 1
    while dest.exists():
        n += 1
        dest = base.with_name(f"{base.name}-{n}")
    return dest


def _set_aside(
    workspace: Workspace,
    project: Project,
    session: Session,
    info: WorkspaceInfo,
    status: WorkspaceStatus,
    dest: Path,
) -> None:
    if not isinstance(workspace, SetsAside):
        raise ConflictError(
            f"it holds {status.describe()}, which its workspace plugin cannot set aside"
        )
    moved = workspace.set_aside(project.repo_path, info, dest)
    if not moved:
        return
    nested = tuple(m for m in moved if m in status.nested)
    what = WorkspaceStatus(
        exists=True, ignored=tuple(m for m in moved if m not in nested), nested=nested
    ).describe()
    events.append(
        project.paths, "workspace.saved", session=session.id,
        message=f"{session.id}: moved {what} to {dest} before removing its worktree",
        data={"dir": str(dest), "paths": list(moved)},
    )  # fmt: skip
