"""Thin helpers over the git CLI: every call goes through ``ao.sdk.proc.run`` with a timeout."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

from ao.sdk.errors import NotFoundError
from ao.sdk.proc import Result, run

GIT_TIMEOUT = 30.0
FETCH_TIMEOUT = 60.0

# Git must never wait for a human: credential prompts would hang a spawn until timeout.
GIT_ENV = {"GIT_TERMINAL_PROMPT": "0"}


def git(cwd: Path, *args: str, timeout: float = GIT_TIMEOUT, check: bool = True) -> Result:
    """Run ``git <args>`` in ``cwd``, never prompting; CommandError on failure if ``check``."""
    return run(["git", *args], cwd=cwd, timeout=timeout, check=check, env=GIT_ENV)


def git_dir(repo: Path) -> Path:
    """Absolute git dir of ``repo``; NotFoundError if ``repo`` is not a git checkout."""
    if not repo.is_dir():
        raise NotFoundError(f"repository {repo} does not exist")
    res = git(repo, "rev-parse", "--absolute-git-dir", check=False)
    if res.returncode != 0:
        raise NotFoundError(
            f"{repo} is not a git repository", hint="set the project's path to a git checkout"
        )
    return Path(res.stdout.strip())


def is_checkout(path: Path) -> bool:
    """True when ``path`` is a directory with its own ``.git`` (file or dir).

    Checked before running git inside ``path`` so git never walks up into an enclosing
    repository and reports on the wrong checkout.
    """
    return path.is_dir() and (path / ".git").exists()


def has_remote(repo: Path, name: str = "origin") -> bool:
    """True when ``repo`` has a remote called ``name``."""
    return name in git(repo, "remote").stdout.split()


def existing_refs(cwd: Path, *refs: str) -> set[str]:
    """The subset of the full ref names ``refs`` that exist, in one git call."""
    if not refs:
        return set()
    out = git(cwd, "for-each-ref", "--format=%(refname)", *refs).stdout
    # for-each-ref also matches by prefix (refs/heads/a matches refs/heads/a/b): keep exact.
    return set(out.split("\n")) & set(refs)


@dataclasses.dataclass(frozen=True)
class WorktreeEntry:
    """One entry of ``git worktree list --porcelain``."""

    path: Path
    branch: str | None  # short branch name; None when detached or bare


def worktrees(repo: Path) -> list[WorktreeEntry]:
    """All worktrees of ``repo``, the main one first."""
    out = git(repo, "worktree", "list", "--porcelain").stdout
    entries: list[WorktreeEntry] = []
    for block in out.split("\n\n"):
        path: Path | None = None
        branch: str | None = None
        for line in block.splitlines():
            key, _, value = line.partition(" ")
            if key == "worktree":
                path = Path(value)
            elif key == "branch":
                branch = value.removeprefix("refs/heads/")
        if path is not None:
            entries.append(WorktreeEntry(path, branch))
    return entries


def same_path(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` name the same location (symlinks resolved)."""
    return a.resolve() == b.resolve()


def count_unique(cwd: Path, tips: Iterable[str], base: str) -> int:
    """Commits reachable from ``tips`` but from no remote-tracking ref and not the base.

    That is work that exists nowhere else. The local ``base`` branch is excluded only if
    it exists; with no remotes, ``--remotes`` excludes nothing.
    """
    tip_list = list(tips)
    if not tip_list:
        return 0
    exclude = sorted(existing_refs(cwd, f"refs/heads/{base}"))
    out = git(cwd, "rev-list", "--count", *tip_list, "--not", "--remotes", *exclude).stdout
    return int(out.strip() or "0")
