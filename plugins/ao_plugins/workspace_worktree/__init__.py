"""Built-in ``worktree`` workspace: one ``git worktree`` (and usually one branch) per session.

Options (from the project's workspace config):

``fetchTtl``
    Seconds a fetch of ``origin`` stays fresh (default 300). ``create`` fetches the base
    branch only when the repository's ``FETCH_HEAD`` is older than this.
``regenerable``
    More names (globs of one path component, e.g. ``generated`` or ``*.bak``) of ignored
    output that tools regenerate, added to the built-in list (``node_modules``,
    ``.venv``, ``__pycache__``, ``dist``, ``build``, ``target``...). Other ignored files
    made after setup, and nested repositories, count as work (see ``_work``).
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ao.sdk.contracts import (
    API_VERSION,
    SetsAside,
    Workspace,
    WorkspaceInfo,
    WorkspaceRequest,
    WorkspaceStatus,
)
from ao.sdk.errors import (
    AoError,
    CommandError,
    ConfigError,
    ConflictError,
    NotFoundError,
    SpawnError,
)
from ao.sdk.gitref import validate_branch

from ._git import (
    FETCH_TIMEOUT,
    WorktreeEntry,
    count_unique,
    existing_refs,
    git,
    git_dir,
    has_remote,
    is_checkout,
    same_path,
    worktrees,
)
from ._setup import (
    SetupLog,
    StepFailed,
    check_relative,
    copy_globs,
    link_paths,
    run_commands,
)
from ._work import REGENERABLE, move_aside, record_baseline, scan

__all__ = ["WorktreeWorkspace"]

DEFAULT_FETCH_TTL = 300.0

_NO_OPTIONS: Mapping[str, Any] = MappingProxyType({})


class WorktreeWorkspace(Workspace, SetsAside):
    """Creates, inspects and removes git worktrees of a project's repository."""

    api_version = API_VERSION

    def __init__(self, options: Mapping[str, Any] = _NO_OPTIONS) -> None:
        ttl = options.get("fetchTtl", DEFAULT_FETCH_TTL)
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl < 0:
            raise ConfigError(
                f"workspace option fetchTtl must be a number of seconds >= 0, got {ttl!r}"
            )
        self.fetch_ttl = float(ttl)
        extra = options.get("regenerable", [])
        if not isinstance(extra, list | tuple) or not all(
            isinstance(g, str) and g and "/" not in g for g in extra
        ):
            raise ConfigError(
                "workspace option regenerable must be a list of names or globs without '/', "
                f"got {extra!r}"
            )
        self.regenerable: tuple[str, ...] = (*REGENERABLE, *extra)

    # ------------------------------------------------------------------------- create

    def create(self, req: WorkspaceRequest) -> WorkspaceInfo:
        """Create the worktree on ``req.branch`` and run post-create steps.

        An existing local branch is checked out as is; otherwise the branch is created
        from ``origin/<base>`` (or the local base). Any post-create failure removes the
        worktree and the branch it created, then raises SpawnError.
        """
        branch = validate_branch(req.branch)
        base = validate_branch(req.base)
        self._check_steps(req)
        repo = req.repo
        path = req.path.absolute()
        if path.exists() or path.is_symlink():
            raise ConflictError(
                f"workspace path {path} already exists",
                hint="remove it, or use another session id",
            )
        gdir = git_dir(repo)
        entries = worktrees(repo)
        if existing_refs(repo, f"refs/heads/{branch}"):
            self._refuse_if_checked_out(entries, branch)
            git(repo, "worktree", "add", "--", str(path), branch)
            created = False
        else:
            start = self._base_ref(repo, gdir, base, local_ahead=req.base_local)
            git(repo, "worktree", "add", "--no-track", "-b", branch, "--", str(path), start)
            created = True
        info = WorkspaceInfo(path=path, branch=branch, base=base, created_branch=created)
        self._post_create(req, info, entries)
        return info

    def _base_ref(self, repo: Path, gdir: Path, base: str, *, local_ahead: bool = False) -> str:
        """``origin/<base>`` (fetched if stale), else the local ``<base>``, else NotFoundError.

        With ``local_ahead`` (a session started from another session's branch), a local
        branch ahead of its remote one wins: it builds on those commits, pushed or not."""
        if has_remote(repo) and self._fetch_is_stale(gdir):
            # Best effort: offline or unreachable remotes fall back to local refs.
            with contextlib.suppress(CommandError):
                git(repo, "fetch", "--quiet", "origin", base, timeout=FETCH_TIMEOUT, check=False)
        remote, local = f"refs/remotes/origin/{base}", f"refs/heads/{base}"
        found = existing_refs(repo, remote, local)
        if local_ahead and remote in found and local in found:
            ahead = git(repo, "merge-base", "--is-ancestor", remote, local, check=False)
            return local if ahead.returncode == 0 else remote
        if remote in found:
            return remote
        if local in found:
            return local
        raise NotFoundError(
            f"base branch '{base}' not found in {repo} (neither origin/{base} nor {base})",
            hint="set defaultBranch in the project's config, or pass an existing branch",
        )

    def _fetch_is_stale(self, gdir: Path) -> bool:
        # FETCH_HEAD is written to the git dir of the checkout that fetched (per
        # worktree), which for the project's own checkout is the common dir.
        try:
            age = time.time() - (gdir / "FETCH_HEAD").stat().st_mtime
        except OSError:
            return True
        return age > self.fetch_ttl

    @staticmethod
    def _check_steps(req: WorkspaceRequest) -> None:
        """Reject unsafe copy/symlink entries before anything is created."""
        for pattern in req.copy:
            check_relative(pattern, "copy")
        for rel in req.symlinks:
            check_relative(rel, "symlinks")

    @staticmethod
    def _refuse_if_checked_out(entries: list[WorktreeEntry], branch: str) -> None:
        for entry in entries:
            if entry.branch == branch:
                raise ConflictError(
                    f"branch '{branch}' is already checked out at {entry.path}",
                    hint="use another branch, or remove that worktree first",
                )

    def _post_create(
        self, req: WorkspaceRequest, info: WorkspaceInfo, entries: list[WorktreeEntry]
    ) -> None:
        """Copy, link and run commands in order; undo the worktree if any step fails."""
        repo = req.repo
        log = SetupLog(req.log_path)
        others = [e.path for e in entries[1:]]
        try:
            copy_globs(repo, info.path, req.copy, others, log)
            link_paths(repo, info.path, req.symlinks, log)
            run_commands(info.path, req.post_create_steps(), log)
        except BaseException as exc:
            self._rollback(repo, info)
            if isinstance(exc, StepFailed):
                where = f"; log: {req.log_path}" if req.log_path else ""
                raise SpawnError(
                    f"{exc} (worktree {info.path} removed){where}",
                    hint="fix the project's postCreate/copy/symlinks settings and retry",
                ) from None
            raise
        # What setup left behind is not work (a missing record only counts more as work).
        with contextlib.suppress(OSError, AoError):
            record_baseline(info.path)

    @staticmethod
    def _rollback(repo: Path, info: WorkspaceInfo) -> None:
        """Best-effort removal of a worktree this call just made, and its new branch."""
        with contextlib.suppress(AoError):
            git(repo, "worktree", "remove", "--force", "--", str(info.path), check=False)
        if (info.path / ".git").is_file():
            shutil.rmtree(info.path, ignore_errors=True)
        with contextlib.suppress(AoError):
            git(repo, "worktree", "prune", check=False)
            if info.created_branch:
                git(repo, "branch", "-D", "--", info.branch, check=False)

    # ------------------------------------------------------------------------- status

    def status(self, repo: Path, info: WorkspaceInfo) -> WorkspaceStatus:
        """Uncommitted changes, commits that exist nowhere else (no remote, not the base),
        ignored files made or changed after setup and nested repositories.

        Untracked symlinks that ``symlinks`` created are not counted as changes, nor is
        regenerable output (``regenerable``).
        """
        path = info.path
        if not is_checkout(path):
            return WorkspaceStatus(exists=False)
        found = scan(repo, path, self.regenerable)
        tips = ["HEAD"]
        if info.branch and existing_refs(path, f"refs/heads/{info.branch}"):
            tips.append(f"refs/heads/{info.branch}")
        return WorkspaceStatus(
            exists=True,
            dirty=found.dirty,
            unpushed=count_unique(path, tips, info.base),
            ignored=found.ignored,
            nested=found.nested,
        )

    # ------------------------------------------------------------------------- destroy

    def destroy(self, repo: Path, info: WorkspaceInfo, *, force: bool = False) -> None:
        """Remove the worktree; refuse if it holds work unless ``force``.

        The branch is deleted only if this workspace created it and it has no commits
        that exist nowhere else; such commits are kept on the branch even with ``force``.
        ``force`` deletes ignored files and nested repositories: ``set_aside`` them first.
        """
        path = info.path
        if not is_checkout(path):
            git(repo, "worktree", "prune")
            self._drop_branch(repo, info)
            return
        state = self.status(repo, info)
        if state.has_work and not force:
            raise ConflictError(
                f"worktree {path} has {state.describe()}",
                hint="commit and push, or pass --force",
            )
        self._keep_detached_work(path, info)
        # A second --force also removes a locked worktree; only when the user forced.
        forces = ["--force", "--force"] if force else ["--force"]
        git(repo, "worktree", "remove", *forces, "--", str(path))
        git(repo, "worktree", "prune")
        self._drop_branch(repo, info)

    @staticmethod
    def _keep_detached_work(path: Path, info: WorkspaceInfo) -> None:
        """Give a detached HEAD's own commits a branch before the worktree (and with it
        HEAD's reflog) is removed; otherwise nothing would reference them."""
        if git(path, "symbolic-ref", "-q", "HEAD", check=False).returncode == 0:
            return
        sha = git(path, "rev-parse", "HEAD").stdout.strip()
        out = git(path, "rev-list", "--count", "HEAD", "--not", "--branches", "--remotes", "--tags")
        if int(out.stdout.strip() or "0") > 0:
            git(path, "branch", "--", f"{info.branch}-detached-{sha[:10]}", sha, check=False)

    @staticmethod
    def _drop_branch(repo: Path, info: WorkspaceInfo) -> None:
        """Delete the branch if this workspace created it and it holds no unique commits."""
        if not info.created_branch or info.branch == info.base:
            return
        try:
            validate_branch(info.branch)
        except AoError:
            return  # metadata we did not write; never hand it to `git branch -D`
        ref = f"refs/heads/{info.branch}"
        if not existing_refs(repo, ref) or count_unique(repo, [ref], info.base) > 0:
            return
        # Fails harmlessly if the branch is checked out elsewhere; then it stays.
        git(repo, "branch", "-D", "--", info.branch, check=False)

    # ------------------------------------------------------------------------- set aside

    def set_aside(self, repo: Path, info: WorkspaceInfo, dest: Path) -> tuple[str, ...]:
        """Move ignored files made after setup and nested repositories to the same paths
        under ``dest`` (created only when something moves); return their paths.

        A rename on one filesystem: instant, and a nested repository keeps its history.
        ConflictError if one cannot be moved (what moved before it stays in ``dest``).
        """
        path = info.path
        if not is_checkout(path):
            return ()
        found = scan(repo, path, self.regenerable)
        return move_aside(path, (*found.nested, *found.ignored), dest)

    # ------------------------------------------------------------------------- snapshot

    def snapshot(self, repo: Path, info: WorkspaceInfo, message: str) -> str | None:
        """Commit all uncommitted work, untracked files included, as one WIP commit.

        Returns the commit id, or None when the checkout is missing or has nothing to
        save. Hooks and signing are skipped: a WIP save must not block or prompt.
        Symlinks made by ``symlinks`` and nested repositories (a gitlink would leave their
        commits behind; one without commits would fail the add) are never committed.
        """
        path = info.path
        if not is_checkout(path):
            return None
        found = scan(repo, path, self.regenerable)
        if not found.dirty:
            return None
        skip = (*found.own_links, *found.nested)
        excludes = [f":(exclude,literal){rel.rstrip('/')}" for rel in skip]
        git(path, "add", "-A", "--", ".", *excludes)
        if git(path, "diff", "--cached", "--quiet", check=False).returncode == 0:
            return None  # only changes git cannot stage here (e.g. inside a submodule)
        git(path, "commit", "--quiet", "--no-verify", "--no-gpg-sign", "-m", message)
        return git(path, "rev-parse", "HEAD").stdout.strip()

    # ------------------------------------------------------------------------- restore

    def restore(self, req: WorkspaceRequest) -> WorkspaceInfo:
        """Recreate a missing worktree from its local branch, or from ``origin/<branch>``.

        Returns an existing registered worktree unchanged. Post-create steps (copy,
        symlinks, commands) run again on a recreated worktree.
        """
        branch = validate_branch(req.branch)
        base = validate_branch(req.base)
        self._check_steps(req)
        repo = req.repo
        path = req.path.absolute()
        git_dir(repo)
        git(repo, "worktree", "prune")
        entries = worktrees(repo)
        if path.exists() or path.is_symlink():
            if any(same_path(e.path, path) for e in entries[1:]):
                return WorkspaceInfo(path=path, branch=branch, base=base, created_branch=False)
            raise ConflictError(
                f"{path} exists but is not a worktree of {repo}",
                hint="move it away, then restore again",
            )
        self._refuse_if_checked_out(entries, branch)
        if existing_refs(repo, f"refs/heads/{branch}"):
            git(repo, "worktree", "add", "--", str(path), branch)
            created = False
        else:
            remote = f"refs/remotes/origin/{branch}"
            if has_remote(repo):
                with contextlib.suppress(CommandError):
                    git(
                        repo,
                        "fetch",
                        "--quiet",
                        "origin",
                        branch,
                        timeout=FETCH_TIMEOUT,
                        check=False,
                    )
            if not existing_refs(repo, remote):
                raise NotFoundError(
                    f"branch '{branch}' not found locally or on origin",
                    hint="the session's work is gone; start a new session",
                )
            git(repo, "worktree", "add", "--track", "-b", branch, "--", str(path), remote)
            created = True
        info = WorkspaceInfo(path=path, branch=branch, base=base, created_branch=created)
        self._post_create(req, info, entries)
        return info

    # ------------------------------------------------------------------------- list

    def list(self, repo: Path) -> list[Path]:
        """Paths of every worktree of ``repo`` except the main checkout."""
        return [entry.path for entry in worktrees(repo)[1:]]
