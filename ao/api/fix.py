"""``ao fix``: a red suite to green with parallel agents, each fix verified and merged back.

``fix`` runs the project's checks on its base branch in a scratch worktree (never the
user's checkout), groups the failures into work items (one per failing test, lint
findings per file), and hands the first ``jobs`` to agents as tasks; the watcher
(``ao.lifecycle.fixing``) does the rest: more items as slots free up, the gate, and the
merge queue. ``fix_status`` reports every item. docs/fix.md has the rules.
"""

from __future__ import annotations

import dataclasses
import difflib
import subprocess
import time
import typing as t

from ao.api.tasks import Tasks
from ao.sdk.errors import AoError, ConfigError, ConflictError, UsageError
from ao.store.record import now, timestamp

if t.TYPE_CHECKING:
    from collections.abc import Sequence

    from ao.fix.store import FixItem, FixRun

JSON = dict[str, t.Any]


@dataclasses.dataclass(frozen=True)
class FixItemInfo:
    """One work item as ``ao fix status`` shows it."""

    id: str
    check: str
    state: str
    failures: tuple[str, ...]
    files: tuple[str, ...]
    reproduce: tuple[str, ...]
    task: str | None
    session: str | None
    branch: str | None
    attempts: int
    reason: str | None
    merged_sha: str | None
    seconds: float  # since it was planned (ended items: until they ended)

    @classmethod
    def of(cls, item: FixItem) -> FixItemInfo:
        """The public view of a stored item."""
        ended = item.state in ("merged", "rejected", "needs_you")
        start = item.created_at or now()
        stop = (item.state_since or now()) if ended else now()
        return cls(
            item.id, item.check, str(item.state), tuple(sorted(item.failure_ids)), item.files,
            item.reproduce, item.task, item.session, item.branch, item.attempts, item.reason,
            item.merged_sha, max(0.0, (stop - start).total_seconds()),
        )  # fmt: skip

    def to_json(self) -> JSON:
        """One item of ``ao fix --json`` / ``ao fix status --json``."""
        return {
            "id": self.id, "check": self.check, "state": self.state,
            "failures": list(self.failures), "files": list(self.files),
            "reproduce": list(self.reproduce), "task": self.task, "session": self.session,
            "branch": self.branch, "attempts": self.attempts, "reason": self.reason,
            "mergedSha": self.merged_sha, "seconds": round(self.seconds, 1),
        }  # fmt: skip


@dataclasses.dataclass(frozen=True)
class FixReport:
    """A fix run (or, with ``dry_run``, its plan): where it stands."""

    project: str
    base: str
    base_sha: str
    checks: tuple[str, ...]
    jobs: int
    items: tuple[FixItemInfo, ...]
    dry_run: bool = False
    started_at: str | None = None
    finished: bool = False
    check_seconds: float = 0.0  # running the checks to plan it

    def to_json(self) -> JSON:
        """The ``ao fix --json`` / ``ao fix status --json`` document's ``data``."""
        return {
            "project": self.project, "base": self.base, "baseSha": self.base_sha,
            "checks": list(self.checks), "jobs": self.jobs, "dryRun": self.dry_run,
            "startedAt": self.started_at, "finished": self.finished,
            "checkSeconds": round(self.check_seconds, 2),
            "items": [item.to_json() for item in self.items],
        }  # fmt: skip


class Fixes(Tasks):
    """Fixing a project's failing checks with agents."""

    def fix(
        self,
        *,
        project: str | None = None,
        checks: Sequence[str] = (),
        jobs: int = 4,
        agent: str | None = None,
        dry_run: bool = False,
        max_items: int | None = None,
    ) -> FixReport:
        """Run ``checks`` (default: all of the project's) on the base branch, plan one work
        item per failing test (lint findings per file), and, unless ``dry_run``, start
        agents on the first ``jobs`` items; the watcher carries on from there."""
        # lazy: only this command runs checks and plans
        from ao.fix.checks import plan, run_check
        from ao.fix.store import FixRun, FixStore
        from ao.fix.work import stored
        from ao.lifecycle.fixing import assign, scratch_at
        from ao.session.checkout import ensure_checkout

        if jobs < 1:
            raise UsageError("-j must be at least 1")
        proj = self._select(project)
        configured = proj.config.checks
        if not configured:
            raise ConfigError(
                f"project {proj.id!r} has no checks to fix",
                hint=f"add projects.{proj.id}.checks to the config, e.g. "
                "tests: {run: 'pytest -q', parser: pytest}",
            )
        names = tuple(dict.fromkeys(checks)) or tuple(configured)
        for name in names:
            if name not in configured:
                close = difflib.get_close_matches(name, list(configured), n=1)
                hint = (
                    f"did you mean {close[0]!r}?" if close else f"checks: {', '.join(configured)}"
                )
                raise UsageError(f"project {proj.id!r} has no check {name!r}", hint=hint)
        fixes = FixStore(proj.paths)
        current = fixes.run()
        if current is not None and current.finished_at is None and not dry_run:
            raise ConflictError(
                f"a fix run of {proj.id!r} is under way", hint="see `ao fix status`"
            )
        ensure_checkout(proj)  # a project with a url and no checkout yet gets one
        base = proj.config.default_branch
        base_sha = _rev(proj.repo_path, base)
        began = time.monotonic()
        scratch = scratch_at(proj, fixes, base_sha)
        runs = [
            run_check(name, configured[name].run, configured[name].parser, scratch,
                      configured[name].timeout)
            for name in names
        ]  # fmt: skip
        items = [stored(work) for work in plan(runs, max_items)]
        seconds = time.monotonic() - began
        run = FixRun(base=base, checks=names, jobs=jobs, agent=agent, base_sha=base_sha)
        if dry_run:
            infos = tuple(FixItemInfo.of(item) for item in items)
            return FixReport(proj.id, base, base_sha, names, jobs, infos, True, None, False,
                             seconds)  # fmt: skip
        fixes.start(run, items)
        if not items:
            fixes.finish()
        else:
            assign(self.context, proj, fixes, fixes.run() or run, wait=True)
        report = self._report(proj.id, fixes, seconds)
        assert report is not None  # just written
        return report

    def fix_status(self, *, project: str | None = None) -> FixReport | None:
        """The project's fix run (the last one, finished or not), or None."""
        from ao.fix.store import FixStore  # lazy: see ao.api.base

        proj = self._select(project)
        return self._report(proj.id, FixStore(proj.paths))

    def fix_runs(self, *, project: str | None = None) -> list[FixReport]:
        """The fix runs under way (of ``project``, else of every project): what ``ao
        status`` summarises."""
        from ao.fix.store import FixStore  # lazy: see ao.api.base

        reports = []
        for proj in self._projects(project):
            fixes = FixStore(proj.paths)
            run = fixes.run()
            if run is not None and run.finished_at is None:
                report = self._report(proj.id, fixes)
                if report is not None:
                    reports.append(report)
        return reports

    def _report(self, project: str, fixes: t.Any, seconds: float = 0.0) -> FixReport | None:
        run: FixRun | None = fixes.run()
        if run is None:
            return None
        items = tuple(FixItemInfo.of(item) for item in fixes.items())
        started = timestamp(run.started_at) if run.started_at else None
        return FixReport(project, run.base, run.base_sha, run.checks, run.jobs, items, False,
                         started, run.finished_at is not None, seconds)  # fmt: skip


def _rev(repo: t.Any, branch: str) -> str:
    result = subprocess.run(["git", "rev-parse", "--verify", f"refs/heads/{branch}"], cwd=repo,
                            capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
    if result.returncode != 0:
        raise AoError(f"the base branch {branch!r} does not exist in {repo}",
                      hint="set the project's defaultBranch")  # fmt: skip
    return result.stdout.strip()
