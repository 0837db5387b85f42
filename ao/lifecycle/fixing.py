"""``ao fix`` in the watcher: hand work items to agents, and merge verified fixes, one at a time.

Each tick, for the project's fix run:

1. items whose task completed (the agent finished and the item's gate passed in its
   worktree: its reproduce command passes, the test still collected and passing) have
   what the agent left uncommitted committed on their branch and join the queue; items
   whose task failed are the user's (``needs_you``);
2. failing items are handed to agents while fewer than ``jobs`` are in progress;
3. the merge queue takes queued items in order, each in the scratch worktree: rebase the
   branch onto the current base (or merge it, ``fix.strategy``), run every check of the
   run; the item's own failures gone and no failure that was not already known →
   fast-forward the base (and push, ``fix.push``); a conflict or a new failure goes back
   to the item's agent with the hunks or the output, and the queue moves on. The base
   only ever moves to a commit whose checks ran, and is never made redder.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import typing as t
from pathlib import Path

from ao.fix.checks import run_check
from ao.fix.store import ITEM_ENDED, FixItem, FixRun, FixStore, ItemState
from ao.fix.work import GATE_PREFIX
from ao.lifecycle import reactions as rx
from ao.lifecycle.actions import notify
from ao.lifecycle.tasks import reopen
from ao.sdk.errors import AoError, ConflictError, SpawnError
from ao.session.delegate import start_task
from ao.session.ops import sync_copy
from ao.session.publish import commit_leftovers
from ao.store import events
from ao.store.locks import locked, try_lock
from ao.store.tasks import TaskState

if t.TYPE_CHECKING:
    from ao.fix.checks import Failure
    from ao.lifecycle.report import TickReport
    from ao.session.context import Context, Project

IN_PROGRESS = (ItemState.FIXING, ItemState.QUEUED, ItemState.MERGING)
RULE = (
    "Fix the cause. Do not skip, xfail, weaken or delete the test, and do not silence the "
    "check (no noqa, no ignore comments, no config changes to hide it)."
)
HUNKS_LIMIT = 6000
SPAWN_TRIES = 3  # an item whose agent fails to start this often is the user's
# what running the checks and the gate leaves in a worktree: never part of a fix (a repo
# without a .gitignore would otherwise get bytecode committed, and every pair conflict)
CHECK_DEBRIS = (
    "**/__pycache__/**", "**/*.pyc", "**/.pytest_cache/**", "**/.mypy_cache/**",
    "**/.ruff_cache/**", "**/.hypothesis/**", "**/.eslintcache", "**/.coverage",
)  # fmt: skip


def advance(ctx: Context, project: Project, report: TickReport) -> None:
    """One step of the project's fix run, if one is under way."""
    fixes = FixStore(project.paths)
    run = fixes.run()
    if run is None or run.finished_at is not None:
        return
    for item in fixes.items():
        if item.state == ItemState.FIXING:
            _follow(ctx, project, fixes, item)
    assign(ctx, project, fixes, run)
    merged = False
    for item in fixes.items():
        if item.state in (ItemState.QUEUED, ItemState.MERGING):
            merge(ctx, project, fixes, run, item)
            merged = True
    if merged:  # a slot freed up: the next item starts now, not a tick later
        assign(ctx, project, fixes, run)
    items = fixes.items()
    if items and all(i.state in ITEM_ENDED for i in items):
        fixes.finish()
        _remove_scratch(project, fixes)
        counts = {s: sum(1 for i in items if i.state == s) for s in ITEM_ENDED}
        summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        events.append(project.paths, "fix.finished", priority="action",
                      message=f"fix run finished: {summary}",
                      data={str(s): n for s, n in counts.items()})  # fmt: skip
        planned = rx.Planned("fix-finished", "notify", "action",
                             f"ao fix on {project.id} finished: {summary}",
                             "every item has ended", run.base_sha)  # fmt: skip
        notify(project, "", planned)


def assign(
    ctx: Context, project: Project, fixes: FixStore, run: FixRun, *, wait: bool = False
) -> list[FixItem]:
    """Hand failing items to agents while fewer than ``run.jobs`` are in progress.

    One assigner at a time (``ao fix`` starting the first agents, the watcher the next):
    the other skips (``wait``: waits). An item whose task a killed assigner already
    started is adopted, not started twice."""
    lock = project.paths.locks / "fix-assign.lock"
    if wait:
        with locked(lock, timeout=600.0):
            return _assign(ctx, project, fixes, run)
    fd = try_lock(lock)
    if fd is None:
        return []
    try:
        return _assign(ctx, project, fixes, run)
    finally:
        os.close(fd)


def _assign(ctx: Context, project: Project, fixes: FixStore, run: FixRun) -> list[FixItem]:
    items = fixes.items()
    busy = sum(1 for i in items if i.state in IN_PROGRESS)
    gates = {t.gate: t for t in project.tasks.list() if t.gate and not t.ended}
    started = []
    for item in items:
        if busy >= run.jobs:
            break
        if item.state != ItemState.FAILING:
            continue
        busy += 1
        task = gates.get(f"{GATE_PREFIX}{item.id}")
        if task is None:
            try:
                task = start_task(
                    ctx, project, goal_of(item), agent=run.agent, base=run.base,
                    branch=f"fix/{item.id}", gate=f"{GATE_PREFIX}{item.id}",
                )  # fmt: skip
            except SpawnError as exc:  # its agent did not come up: a crash at start, a
                # busy machine; the next pass tries again, a person only after SPAWN_TRIES
                tries = item.spawn_failures + 1
                state = ItemState.FAILING if tries < SPAWN_TRIES else ItemState.NEEDS_YOU
                why = f"its agent did not start ({exc.message})"
                _to(project, fixes, item, state, spawn_failures=tries, reason=why)
                continue
            except AoError as exc:
                started.append(_to(project, fixes, item, ItemState.NEEDS_YOU, reason=str(exc)))
                continue
        started.append(_to(project, fixes, item, ItemState.FIXING, task=task.id,
                           session=task.session, branch=task.branch))  # fmt: skip
    return started


def goal_of(item: FixItem) -> str:
    """What the item's agent is asked: the failures, their output, the command, the rule."""
    lines = [f"Fix the failing `{item.check}` check ({item.id})."]
    lines += [f"- {failure.get('id')}: {failure.get('message')}" for failure in item.failures]
    output = "\n\n".join(str(f.get("output") or "").strip() for f in item.failures).strip()
    if output:
        lines += ["", "Output:", "```", output[-4000:], "```"]
    lines += [
        "", f"Reproduce it with: `{' '.join(item.reproduce)}` (it must pass).", RULE,
        "Commit your change on this branch, then finish your turn; ao verifies it.",
    ]  # fmt: skip
    return "\n".join(lines)


def _follow(ctx: Context, project: Project, fixes: FixStore, item: FixItem) -> None:
    """An item being fixed: queue it once its task completed, or give it to the user."""
    if item.task is None or not project.tasks.exists(item.task):
        _to(project, fixes, item, ItemState.NEEDS_YOU, reason="its task is gone")
        return
    task = project.tasks.read(item.task)
    if task.state == TaskState.COMPLETED:
        session = project.store.read(task.session) if task.session else None
        subject = f"fix: {item.check} {item.id}"
        if (
            session is not None
            and session.worktree is not None
            and commit_leftovers(project, session.worktree, subject, skip=CHECK_DEBRIS)
        ):
            with contextlib.suppress(AoError):  # else the next sync names the two moves
                sync_copy(ctx, session)  # the commit to a copy on another host, if any
        _to(project, fixes, item, ItemState.QUEUED, reason=None)
    elif task.state in (TaskState.FAILED, TaskState.CANCELLED):
        # the gate kept refusing its fix (a human was notified), or the user cancelled it
        _to(project, fixes, item, ItemState.REJECTED, reason=f"{task.id} {task.state}: "
            f"{task.reason}")  # fmt: skip


# ------------------------------------------------------------------------ the merge queue


def merge(ctx: Context, project: Project, fixes: FixStore, run: FixRun, item: FixItem) -> None:
    """Try to land one verified item on the base (see the module's docstring)."""
    item = _to(project, fixes, item, ItemState.MERGING)
    repo = project.repo_path
    base_sha = _git(repo, "rev-parse", f"refs/heads/{run.base}").strip()
    scratch = scratch_at(project, fixes, base_sha)
    _git(scratch, "checkout", "-q", "--detach", f"refs/heads/{item.branch}")
    if ctx.config.fix.strategy == "rebase":
        joined = _try(scratch, "rebase", "-q", base_sha)
    else:
        _git(scratch, "checkout", "-q", "--detach", base_sha)
        joined = _try(scratch, "merge", "-q", "--no-ff", "-m", f"Merge {item.branch}",
                      f"refs/heads/{item.branch}")  # fmt: skip
    if not joined:
        hunks = _git(scratch, "diff")[-HUNKS_LIMIT:]
        files = _git(scratch, "diff", "--name-only", "--diff-filter=U").split()
        _try(scratch, "rebase" if ctx.config.fix.strategy == "rebase" else "merge", "--abort")
        _send_back(ctx, project, fixes, item, "conflict", (
            f"Your fix could not join `{run.base}` (now at {base_sha[:10]}): it conflicts "
            f"in {', '.join(files) or 'some files'}. Rebase your branch onto `{run.base}` "
            f"(`git rebase {run.base}`), resolve the conflicts keeping both changes, commit, "
            f"and finish your turn.\n\n```\n{hunks}\n```"
        ))  # fmt: skip
        return
    head = _git(scratch, "rev-parse", "HEAD").strip()
    problems = _regressions(project, fixes, run, item, scratch)
    if problems:
        detail = "\n".join(f"- {f.id}: {f.message}\n{f.output[-1500:]}" for f in problems)
        _send_back(ctx, project, fixes, item, "new failure", (
            f"With your fix on top of `{run.base}`, these checks fail:\n{detail[-HUNKS_LIMIT:]}"
            f"\n\nFix them without undoing your fix (rebase onto `{run.base}` first if "
            "needed), commit, and finish your turn. " + RULE
        ))  # fmt: skip
        return
    try:
        _fast_forward(project, run.base, base_sha, head)
        if ctx.config.fix.push:
            _git(repo, "push", "-q", "origin", f"{head}:refs/heads/{run.base}", timeout=120)
    except AoError as exc:
        _to(project, fixes, item, ItemState.QUEUED, reason=f"waiting: {exc}")
        return
    _to(project, fixes, item, ItemState.MERGED, merged_sha=head, reason=None)


def _regressions(
    project: Project, fixes: FixStore, run: FixRun, item: FixItem, scratch: Path
) -> list[Failure]:
    """Failures after the merge that are the item's own, or were not known before."""
    others = [i for i in fixes.items() if i.id != item.id and i.state != ItemState.MERGED]
    known_ids = {fid for i in others for fid in i.failure_ids}
    known_files = {(i.check, f) for i in others if i.parser != "pytest" for f in i.files}
    known_checks = {i.check for i in others if i.parser == "generic"}
    problems = []
    for name in run.checks:
        cfg = project.config.checks.get(name)
        if cfg is None:
            continue
        result = run_check(name, cfg.run, cfg.parser, scratch, cfg.timeout)
        for failure in result.failures:
            known = (
                failure.id in known_ids
                or (failure.check, failure.file) in known_files
                or failure.check in known_checks
            )
            if not known:  # the item's own failure still there counts too
                problems.append(failure)
    return problems


def _send_back(
    ctx: Context, project: Project, fixes: FixStore, item: FixItem, why: str, message: str
) -> None:
    attempts = item.attempts + 1
    if attempts > ctx.config.fix.max_attempts or item.task is None:
        _to(project, fixes, item, ItemState.NEEDS_YOU, attempts=attempts,
            reason=f"{why} after {attempts - 1} attempts")  # fmt: skip
        planned = rx.Planned("fix-needs-you", "escalate", "urgent",
                             f"ao fix: {item.id} ({item.session}) needs you: {why}.\n\n"
                             f"{message[:2000]}", "the merge queue gave up", item.id)  # fmt: skip
        notify(project, item.session or "", planned)
        return
    try:
        task = project.tasks.read(item.task)
        session = project.store.read(t.cast(str, task.session))
        reopen(ctx, project, task, session, message, reason=why)
    except AoError as exc:
        _to(project, fixes, item, ItemState.NEEDS_YOU, attempts=attempts,
            reason=f"{why}; could not tell its agent: {exc}")  # fmt: skip
        return
    _to(project, fixes, item, ItemState.FIXING, attempts=attempts, reason=why)


def _fast_forward(project: Project, base: str, old: str, new: str) -> None:
    """Move ``base`` from ``old`` to ``new`` (a descendant): in the worktree that has it
    checked out (the user's checkout: only a clean fast-forward), else the ref alone."""
    repo = project.repo_path
    for block in _git(repo, "worktree", "list", "--porcelain").split("\n\n"):
        lines = dict(line.split(" ", 1) for line in block.splitlines() if " " in line)
        if lines.get("branch") == f"refs/heads/{base}":
            where = lines["worktree"]
            if not _try(Path(where), "merge", "-q", "--ff-only", new):
                raise ConflictError(
                    f"{base} is checked out at {where} and cannot fast-forward "
                    "(uncommitted changes in the way?)",
                    hint="commit or stash them there; the queue retries",
                )
            return
    _git(repo, "update-ref", f"refs/heads/{base}", new, old)


def scratch_at(project: Project, fixes: FixStore, sha: str) -> Path:
    """The run's scratch worktree, clean, at ``sha``."""
    path = fixes.scratch
    if not (path / ".git").exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _git(project.repo_path, "worktree", "add", "-q", "--detach", str(path), sha)
        return path
    _try(path, "rebase", "--abort")
    _try(path, "merge", "--abort")
    _git(path, "reset", "-q", "--hard")
    _git(path, "clean", "-qfdx")
    _git(path, "checkout", "-q", "--detach", sha)
    return path


def _remove_scratch(project: Project, fixes: FixStore) -> None:
    if fixes.scratch.exists():
        _try(project.repo_path, "worktree", "remove", "--force", str(fixes.scratch))


def _to(
    project: Project, fixes: FixStore, item: FixItem, state: ItemState, **changes: t.Any
) -> FixItem:
    before = item.state
    item = fixes.update(item.id, state=state, **changes)
    if before != state:
        urgent = state in (ItemState.NEEDS_YOU,)
        events.append(
            project.paths, f"fix.{state}", session=item.session,
            priority="urgent" if urgent else "info",
            message=f"{item.id}: {before} → {state}" + (f" ({item.reason})" if item.reason else ""),
            data={"item": item.id, "from": before, "to": state, "task": item.task,
                  "attempts": item.attempts, "merged_sha": item.merged_sha},
        )  # fmt: skip
    return item


def _git(cwd: Path, *args: str, timeout: float = 60.0) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                            timeout=timeout, check=False)  # fmt: skip
    if result.returncode != 0:
        raise AoError(f"git {' '.join(args[:2])} failed in {cwd}: "
                      f"{(result.stderr or result.stdout).strip()[-300:]}")  # fmt: skip
    return result.stdout


def _try(cwd: Path, *args: str) -> bool:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                            timeout=120, check=False)  # fmt: skip
    return result.returncode == 0
