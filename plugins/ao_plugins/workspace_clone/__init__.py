"""Built-in ``clone`` workspace: a full git clone per session instead of a worktree.

Each session gets a repository of its own (its own ``.git`` directory, refs, config,
hooks and index) made from the project's local checkout, never over the network:

1. ``git clone --no-checkout --shared <repo> <dest>``: the objects are borrowed from the
   local repository (``objects/info/alternates``), so the clone costs only its refs.
2. Its refs are set to what the local repository knows: ``origin/*`` is the local
   repository's ``origin/*`` (fetched first when stale, exactly like the worktree plugin),
   and ``origin``'s URL (and push URL) are the project's real ones, so ``git push`` goes
   where the user expects, never to the local path. A repository without ``origin``
   makes a clone whose ``origin`` is the local repository (a plain clone's default).
3. The session's branch is checked out: an existing local branch of the repository as it
   is, otherwise a new branch (no upstream) from ``origin/<base>``, else the local
   ``<base>`` (a local ``<base>`` ahead of ``origin``'s wins for ``base_local``) —
   the worktree plugin's rules, so a base that exists only locally works.
4. Unless ``shared`` is set, the clone is dissociated (what ``git clone --dissociate``
   does: ``git repack -a -d`` with the borrowed objects, then the alternates go): it then
   survives ``git gc`` in, or the removal of, the local repository. This copies the
   history the clone reaches once, locally, when the clone is made.
5. ``copy``, ``symlinks`` and ``postCreate`` run as for a worktree (the plugin's job, not
   the core's), and what they leave is not work.

Options (``plugins.clone``):

``shared``
    ``true`` keeps borrowing the objects (``git clone --shared``): instant and small, but
    the clone breaks if ``git gc`` in the local repository prunes objects it borrowed
    (history the local repository dropped: a deleted or rewritten branch). Default
    ``false``.
``fetchTtl``, ``regenerable``
    As for the worktree plugin.

Work and cleanup. A clone's commits live only in the clone until pushed, so work is
every commit reachable from ``HEAD`` or any local branch of the clone that is on no
remote-tracking branch and was not already in the repository when the clone was made
(``refs/ao/start``), plus the worktree plugin's uncommitted changes, ignored files made
after setup and nested repositories. ``destroy`` refuses a clone holding work unless
``force``; with ``force`` it first copies each local branch holding such commits into the
local repository (the same name when that is a fast-forward, else
``<branch>-saved-<sha>``; a detached ``HEAD``'s as ``<branch>-detached-<sha>``), so they
survive as a worktree's branch would, and ``restore`` finds the branch there.

The clones are recorded in ``<repo>/.git/ao-clones/`` (see ``_registry``); ``list``
returns those still present.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ao.sdk.contracts import WorkspaceInfo, WorkspaceRequest, WorkspaceStatus
from ao.sdk.errors import CommandError, ConfigError, ConflictError, NotFoundError
from ao.sdk.gitref import validate_branch
from ao.sdk.proc import run
from ao_plugins.workspace_worktree import WorktreeWorkspace
from ao_plugins.workspace_worktree._git import (
    FETCH_TIMEOUT,
    WorktreeEntry,
    existing_refs,
    git,
    git_dir,
    has_remote,
    is_checkout,
    same_path,
    worktrees,
)
from ao_plugins.workspace_worktree._work import scan

from . import _registry

__all__ = ["CloneWorkspace"]

CLONE_TIMEOUT = 300.0
REPACK_TIMEOUT = 1800.0
START_REF = "refs/ao/start"

_NO_OPTIONS: Mapping[str, Any] = MappingProxyType({})


class CloneWorkspace(WorktreeWorkspace):
    """Creates, inspects and removes full clones of a project's repository.

    ``status``'s scan, ``snapshot`` and ``set_aside`` are the worktree plugin's: they work
    on any checkout with its own ``.git``.
    """

    def __init__(self, options: Mapping[str, Any] = _NO_OPTIONS) -> None:
        shared = options.get("shared", False)
        if not isinstance(shared, bool):
            raise ConfigError(f"workspace option shared must be true or false, got {shared!r}")
        self.shared = shared
        super().__init__({k: v for k, v in options.items() if k != "shared"})

    # ------------------------------------------------------------------------- create

    def create(self, req: WorkspaceRequest) -> WorkspaceInfo:
        """Clone the repository to ``req.path`` on ``req.branch`` and run post-create steps.

        An existing local branch is checked out as is; otherwise the branch is created
        from ``origin/<base>`` (or the local base). Any failure removes the clone, then
        raises (post-create failures as SpawnError).
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
        _registry.prune(repo)
        others = self._refuse_if_cloned(repo, branch)
        if existing_refs(repo, f"refs/heads/{branch}"):
            start, created = f"refs/heads/{branch}", False
        else:
            start = self._base_ref(repo, gdir, base, local_ahead=req.base_local)
            created = True
        info = WorkspaceInfo(path=path, branch=branch, base=base, created_branch=created)
        self._clone(repo, info, start, same_branch=not created)
        self._post_create(req, info, others)
        return info

    def _refuse_if_cloned(self, repo: Path, branch: str) -> list[WorktreeEntry]:
        """ConflictError when another clone has ``branch`` checked out (two sessions on
        one branch would diverge); else the checkouts ``copy`` must not copy from.

        The project's own checkout and its worktrees may have it: a clone's branch is its
        own, as in any clone (work is pushed, or saved back by a forced ``destroy``)."""
        clones = self.list(repo)
        for path in clones:
            head = git(path, "symbolic-ref", "-q", "--short", "HEAD", check=False).stdout
            if head.strip() == branch:
                raise ConflictError(
                    f"branch '{branch}' is already checked out in the clone {path}",
                    hint="use another branch, or stop that session first",
                )
        return [*worktrees(repo), *(WorktreeEntry(p, None) for p in clones)]

    def _clone(
        self, repo: Path, info: WorkspaceInfo, start: str, *, same_branch: bool = False,
        track: str | None = None,
    ) -> None:  # fmt: skip
        """Make the clone at ``info.path`` with ``info.branch`` at the repository's ``start``
        checked out; remove it again if any step fails.

        ``same_branch``: ``start`` is the repository's own branch, whose upstream (on
        ``origin``) the clone's keeps; ``track``: the clone's branch tracks this one."""
        path = info.path
        sha = git(repo, "rev-parse", "--verify", "--quiet", f"{start}^{{commit}}").stdout.strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        _registry.register(repo, path)
        try:
            git(
                path.parent, "clone", "--quiet", "--no-checkout", "--shared",
                "--", str(repo.absolute()), str(path), timeout=CLONE_TIMEOUT,
            )  # fmt: skip
            _registry.mark(path, repo)
            self._wire(repo, path, info.branch, sha)
            if same_branch:
                self._copy_upstream(repo, path, info.branch)
            elif track:
                git(path, "branch", "--quiet", f"--set-upstream-to={track}", info.branch)
            git(path, "symbolic-ref", "HEAD", f"refs/heads/{info.branch}")
            git(path, "reset", "--quiet", "--hard", timeout=CLONE_TIMEOUT)
            if not self.shared:
                self._dissociate(path)
        except BaseException:
            self._rollback(repo, info)
            raise

    @staticmethod
    def _wire(repo: Path, path: Path, branch: str, sha: str) -> None:
        """The clone's refs as the repository knows them, ``origin`` at the real URL.

        The objects are all borrowed at this point, so any of the repository's ids can
        be written as a ref without a fetch."""
        mine = git(path, "for-each-ref", "--format=%(refname)", "refs/heads", "refs/remotes")
        lines = [f"delete {ref}" for ref in mine.stdout.split()]
        if has_remote(repo):
            theirs = git(
                repo, "for-each-ref", "--format=%(objectname) %(refname) %(symref)",
                "refs/remotes/origin",
            ).stdout  # fmt: skip
            for line in theirs.splitlines():
                oid, ref, *symref = line.split(" ")
                if not any(symref):
                    lines.append(f"create {ref} {oid}")
        else:
            heads = git(repo, "for-each-ref", "--format=%(objectname) %(refname)", "refs/heads")
            for line in heads.stdout.splitlines():
                oid, ref = line.split(" ", 1)
                lines.append(f"create refs/remotes/origin/{ref.removeprefix('refs/heads/')} {oid}")
        lines += [f"create refs/heads/{branch} {sha}", f"create {START_REF} {sha}"]
        # deletes first: `refs/remotes/origin/x` may be deleted and created again
        _update_refs(path, lines)
        if has_remote(repo):
            url = git(repo, "remote", "get-url", "origin").stdout.strip()
            git(path, "remote", "set-url", "origin", url)
            pushes = git(repo, "config", "--get-all", "remote.origin.pushurl", check=False)
            for push in pushes.stdout.splitlines():
                git(path, "config", "--add", "remote.origin.pushurl", push)
            head = git(repo, "symbolic-ref", "-q", "refs/remotes/origin/HEAD", check=False)
            target = head.stdout.strip()
            if head.returncode == 0 and existing_refs(path, target):
                git(path, "symbolic-ref", "refs/remotes/origin/HEAD", target)

    @staticmethod
    def _copy_upstream(repo: Path, path: Path, branch: str) -> None:
        """An existing branch keeps the upstream it has in the repository (on ``origin``)."""
        remote = git(repo, "config", "--get", f"branch.{branch}.remote", check=False).stdout
        merge = git(repo, "config", "--get", f"branch.{branch}.merge", check=False).stdout
        if remote.strip() == "origin" and merge.strip():
            git(path, "config", f"branch.{branch}.remote", "origin")
            git(path, "config", f"branch.{branch}.merge", merge.strip())

    @staticmethod
    def _dissociate(path: Path) -> None:
        """Copy the borrowed objects the clone reaches into it and stop borrowing."""
        git(path, "repack", "-a", "-d", "-q", timeout=REPACK_TIMEOUT)
        alternates = path / ".git" / "objects" / "info" / "alternates"
        alternates.unlink(missing_ok=True)

    @staticmethod
    def _rollback(repo: Path, info: WorkspaceInfo) -> None:
        """Best-effort removal of a clone this call just made (its branch goes with it)."""
        if info.path.exists() and not info.path.is_symlink():
            shutil.rmtree(info.path, onerror=_force_remove)
        _registry.unregister(repo, info.path)

    # ------------------------------------------------------------------------- status

    def status(self, repo: Path, info: WorkspaceInfo) -> WorkspaceStatus:
        """Uncommitted changes, commits that exist nowhere else (on no remote-tracking
        branch of the clone, not in the repository when it was cloned) on ``HEAD`` or any
        local branch, ignored files made after setup and nested repositories."""
        path = info.path
        if not is_checkout(path):
            return WorkspaceStatus(exists=False)
        found = scan(repo, path, self.regenerable)
        return WorkspaceStatus(
            exists=True,
            dirty=found.dirty,
            unpushed=_unique(path, "HEAD", "--branches"),
            ignored=found.ignored,
            nested=found.nested,
        )

    # ------------------------------------------------------------------------- destroy

    def destroy(self, repo: Path, info: WorkspaceInfo, *, force: bool = False) -> None:
        """Remove the clone; refuse if it holds work unless ``force``.

        With ``force``, commits that exist nowhere else are first copied to branches of
        the repository (see the module's doc); ignored files and nested repositories are
        deleted: ``set_aside`` them first. A directory that is not a clone this plugin
        made of ``repo`` is never removed.
        """
        path = info.path
        if not (path.exists() or path.is_symlink()):
            _registry.unregister(repo, path)
            return
        if not _registry.is_clone_of(path, repo):
            raise ConflictError(
                f"{path} is not a clone of {repo} made by ao",
                hint="move it away yourself if it is no longer needed",
            )
        state = self.status(repo, info)
        if state.has_work and not force:
            raise ConflictError(
                f"clone {path} has {state.describe()}",
                hint="commit and push, or pass --force",
            )
        if state.unpushed:
            _save_commits(repo, path, info.branch)
        shutil.rmtree(path, onerror=_force_remove)
        _registry.unregister(repo, path)

    # ------------------------------------------------------------------------- restore

    def restore(self, req: WorkspaceRequest) -> WorkspaceInfo:
        """Recreate a missing clone from the repository's branch, or ``origin/<branch>``.

        Returns a clone still present unchanged. Post-create steps run again on a
        recreated clone.
        """
        branch = validate_branch(req.branch)
        base = validate_branch(req.base)
        self._check_steps(req)
        repo = req.repo
        path = req.path.absolute()
        git_dir(repo)
        _registry.prune(repo)
        if path.exists() or path.is_symlink():
            if any(same_path(p, path) for p in self.list(repo)):
                return WorkspaceInfo(path=path, branch=branch, base=base, created_branch=False)
            raise ConflictError(
                f"{path} exists but is not a clone of {repo}",
                hint="move it away, then restore again",
            )
        others = self._refuse_if_cloned(repo, branch)
        if existing_refs(repo, f"refs/heads/{branch}"):
            start, created = f"refs/heads/{branch}", False
        else:
            start = f"refs/remotes/origin/{branch}"
            if has_remote(repo):
                with contextlib.suppress(CommandError):
                    git(
                        repo, "fetch", "--quiet", "origin", branch,
                        timeout=FETCH_TIMEOUT, check=False,
                    )  # fmt: skip
            if not existing_refs(repo, start):
                raise NotFoundError(
                    f"branch '{branch}' not found locally or on origin",
                    hint="the session's work is gone; start a new session",
                )
            created = True
        info = WorkspaceInfo(path=path, branch=branch, base=base, created_branch=created)
        track = f"origin/{branch}" if created else None
        self._clone(repo, info, start, same_branch=not created, track=track)
        self._post_create(req, info, others)
        return info

    # ------------------------------------------------------------------------- list

    def list(self, repo: Path) -> list[Path]:
        """Paths of the clones of ``repo`` this plugin made that are still there."""
        return sorted(p for p in _registry.recorded(repo) if _registry.is_clone_of(p, repo))


def _update_refs(path: Path, lines: list[str]) -> None:
    """Apply ``update-ref --stdin`` lines: the deletes in one transaction, then the rest
    (a ref may be deleted and created again)."""
    deletes = [x for x in lines if x.startswith("delete ")]
    creates = [x for x in lines if not x.startswith("delete ")]
    for batch in (deletes, creates):
        if batch:
            run(
                ["git", "update-ref", "--no-deref", "--stdin"],
                cwd=path,
                input="".join(f"{x}\n" for x in batch),
                env={"GIT_TERMINAL_PROMPT": "0"},
                timeout=60.0,
            )


def _unique(path: Path, *tips: str) -> int:
    """Commits reachable from ``tips`` in the clone that are on no remote-tracking branch
    and were not in the repository when the clone was made."""
    start = sorted(existing_refs(path, START_REF))
    out = git(path, "rev-list", "--count", *tips, "--not", "--remotes", *start).stdout
    return int(out.strip() or "0")


def _save_commits(repo: Path, path: Path, branch: str) -> None:
    """Copy every local branch of the clone holding commits that exist nowhere else, and
    a detached ``HEAD``'s, to branches of the repository; CommandError if one cannot be."""
    heads = git(path, "for-each-ref", "--format=%(objectname) %(refname)", "refs/heads")
    for line in heads.stdout.splitlines():
        sha, ref = line.split(" ", 1)
        if _unique(path, ref) > 0:
            _fetch_into(repo, path, ref, sha, ref.removeprefix("refs/heads/"))
    if git(path, "symbolic-ref", "-q", "HEAD", check=False).returncode != 0:
        sha = git(path, "rev-parse", "HEAD").stdout.strip()
        start = sorted(existing_refs(path, START_REF))
        out = git(path, "rev-list", "--count", "HEAD", "--not", "--branches", "--remotes", *start)
        if int(out.stdout.strip() or "0") > 0:
            name = f"{branch}-detached-{sha[:10]}"
            _fetch_into(repo, path, "HEAD", sha, name, fast_forward=False)


def _fetch_into(
    repo: Path, path: Path, ref: str, sha: str, name: str, *, fast_forward: bool = True
) -> None:
    """The clone's ``ref`` (at ``sha``) as branch ``name`` of the repository when that is a
    new branch or a fast-forward (and not checked out there), else as
    ``<name>-saved-<sha>``. ``FETCH_HEAD`` is left alone: it dates the last real fetch."""
    base = ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", str(path)]
    if fast_forward:
        res = git(repo, *base, f"{ref}:refs/heads/{name}", timeout=FETCH_TIMEOUT, check=False)
        if res.returncode == 0:
            return
        name = f"{name}-saved-{sha[:10]}"
    git(repo, *base, f"+{ref}:refs/heads/{name}", timeout=FETCH_TIMEOUT)


def _force_remove(func: Callable[..., Any], target: str, _exc: Any) -> None:
    """``rmtree``'s error handler: make a read-only file's directory writable, retry."""
    with contextlib.suppress(OSError):
        parent = Path(target).parent
        parent.chmod(parent.stat().st_mode | stat.S_IWUSR | stat.S_IXUSR)
        func(target)
        return
    if os.path.lexists(target):
        raise OSError(f"cannot remove {target}")
