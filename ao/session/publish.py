"""Publishing a session's work: commit, push, open and merge its pull request.

``finalize`` commits what the agent left in the worktree (never what ao placed there:
the files ``copy`` and ``symlinks`` put in), pushes the branch to ``origin`` and, on
request, opens the pull request through the project's SCM plugin. ``merge`` merges it.
Both work through the project's tracker and SCM plugins (``projects.<id>.tracker`` /
``.scm``, else ``defaults.tracker`` / ``defaults.scm``) and the project's ``repo``.
"""

from __future__ import annotations

import dataclasses
import re
import typing as t
from collections.abc import Sequence
from pathlib import Path

from ao.sdk.contracts import PrOpening
from ao.sdk.errors import ConflictError, NotFoundError, UsageError
from ao.sdk.proc import run
from ao.sdk.textsafe import strip_controls
from ao.session.ops import sync_copy

if t.TYPE_CHECKING:
    from ao.sdk.contracts import Scm, Tracker
    from ao.session.context import Context, Project
    from ao.store.state import Session

PUSH_TIMEOUT = 300.0
STRATEGIES = ("merge", "squash", "rebase")


@dataclasses.dataclass(frozen=True)
class Published:
    """What ``finalize`` did: the commit it made, the push, the pull request it opened."""

    session_id: str
    branch: str
    committed: bool  # the worktree's changes became a new commit
    commits: int  # commits on the branch beyond the base
    pr_url: str | None = None
    pr_number: int | None = None


@dataclasses.dataclass(frozen=True)
class Merged:
    """A pull request ``merge`` merged."""

    session_id: str
    url: str
    number: int
    strategy: str


def tracker_of(ctx: Context, project: Project) -> Tracker:
    """The project's issue tracker plugin."""
    return ctx.tracker(project.config.tracker or ctx.config.defaults.tracker)


def scm_of(ctx: Context, project: Project) -> Scm:
    """The project's SCM plugin."""
    return ctx.scm(project.config.scm or ctx.config.defaults.scm)


def repo_of(project: Project) -> str:
    """The project's path on its code host (``owner/name``, ``group/sub/name``).

    ``projects.<id>.repo``, else parsed from origin's URL (``https://host/PATH.git`` or
    ``git@host:PATH.git``).
    """
    if project.config.repo:
        return project.config.repo
    url = run(["git", "remote", "get-url", "origin"], cwd=project.repo_path, check=False).stdout
    match = re.search(r"^(?:\w+://[^/\s]+/|[^@/\s]+@[^:/\s]+:)([^\s]+?)(?:\.git)?/?$", url.strip())
    if match and "/" in match.group(1):
        return match.group(1)
    raise UsageError(
        f"project {project.id!r} has no repository on a code host",
        hint=f"set `repo: owner/name` under projects.{project.id} in the config",
    )


def tracker_repo_of(project: Project) -> str:
    """The project's name in its tracker: ``trackerProject``, else its repository."""
    return project.config.tracker_project or repo_of(project)


def _git(worktree: Path, *args: str, timeout: float = 60.0) -> str:
    return run(["git", *args], cwd=worktree, timeout=timeout).stdout


def commits_ahead(worktree: Path, base: str) -> int:
    """Commits on the worktree's HEAD beyond ``origin/<base>`` (else ``base``, else all)."""
    for ref in (f"origin/{base}", base):
        r = run(["git", "rev-list", "--count", f"{ref}..HEAD"], cwd=worktree, check=False)
        if r.returncode == 0:
            return int(r.stdout.strip() or 0)
    return int(_git(worktree, "rev-list", "--count", "HEAD").strip() or 0)


def commit_leftovers(
    project: Project, worktree: Path, subject: str, *, skip: Sequence[str] = ()
) -> bool:
    """Commit what the agent left uncommitted in ``worktree`` (never what ao itself placed
    there: copied files, symlinks; nor paths matching the ``skip`` globs); True when a
    commit was made."""
    if not _git(worktree, "status", "--porcelain").strip():
        return False
    excluded = [f":(exclude){p}" for p in (*project.config.copy_, *project.config.symlinks)]
    excluded += [f":(exclude,glob){pattern}" for pattern in skip]
    _git(worktree, "add", "-A", "--", ".", *excluded)
    if not _git(worktree, "diff", "--cached", "--name-only").strip():
        return False
    _git(worktree, "commit", "-q", "-m", subject)
    return True


def finalize(
    ctx: Context,
    project: Project,
    session: Session,
    *,
    pr: bool = False,
    title: str | None = None,
    body: str | None = None,
    draft: bool = False,
) -> Published:
    """Commit what the agent left in the worktree, push the branch, optionally open the PR.

    The commit's (and PR's) title is ``title``, else the issue's, else a generic one.
    A branch with no commits beyond its base is a UsageError (nothing to publish); an
    SCM plugin that cannot open pull requests is one too. The PR is recorded in the
    session (``pr``, ``pr_number``).
    """
    worktree, branch = session.worktree, session.branch
    if not branch or worktree is None or not worktree.is_dir():
        raise UsageError(f"session {session.id} has no worktree", hint="`ao restore` it first")
    base = session.base or project.config.default_branch
    issue_title = strip_controls(session.issue_title or "").strip()
    subject = " ".join((title or issue_title or f"Work from ao session {session.id}").split())
    sync_copy(ctx, session)  # the agent's work, when it works on a copy on another host
    committed = commit_leftovers(project, worktree, subject)
    if committed:
        sync_copy(ctx, session)  # and the commit to the copy, for the agent to build on
    ahead = commits_ahead(worktree, base)
    if ahead == 0:
        raise UsageError(f"{branch} has no commits beyond {base}: nothing to publish")
    _git(worktree, "push", "-q", "-u", "origin", f"HEAD:refs/heads/{branch}", timeout=PUSH_TIMEOUT)
    if not pr:
        return Published(session.id, branch, committed, ahead)
    repo = repo_of(project)
    scm = scm_of(ctx, project)
    if not isinstance(scm, PrOpening):
        raise UsageError(f"the {project.config.scm or ctx.config.defaults.scm} SCM cannot open PRs")
    issue = session.issue or ""
    closes = f"#{issue}" if issue.isdigit() else issue  # Linear: "Closes ENG-12"
    text = body if body is not None else (f"Closes {closes}\n\n" if issue else "")
    text += "" if body is not None else f"Opened by ao from session {session.id}."
    state = scm.open_pr(repo, head=branch, base=base, title=subject, body=text, draft=draft)
    project.store.update(session.id, pr=state.url, pr_number=state.number)
    return Published(session.id, branch, committed, ahead, state.url, state.number)


def merge(ctx: Context, project: Project, session: Session, strategy: str = "squash") -> Merged:
    """Merge the session's open pull request with ``strategy`` (merge, squash or rebase).

    NotFoundError when its branch has no pull request, ConflictError when that one is
    not open; the SCM plugin refuses (AoError) when the head moved since it looked.
    """
    if strategy not in STRATEGIES:
        raise UsageError(f"unknown strategy {strategy!r}", hint="merge, squash or rebase")
    repo, branch = repo_of(project), session.branch or ""
    scm = scm_of(ctx, project)
    state = scm.pr_states(repo, [branch]).get(branch)
    if state is None:
        raise NotFoundError(
            f"{branch} has no pull request", hint=f"`ao finalize {session.id} --pr`"
        )
    if state.state != "open":
        raise ConflictError(f"pull request #{state.number} is {state.state}")
    scm.merge(repo, state, strategy)
    return Merged(session.id, state.url, state.number, strategy)
