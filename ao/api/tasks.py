"""Tasks: a goal handed to an agent in its own session, completed only on evidence.

``create_task`` starts a session for the goal and records a task bound to it; the
watcher (``ao.lifecycle.tasks``) moves the task with its session and, when the agent
finishes its turn, runs the task's verify commands in the worktree: all pass is
``completed``; a failure goes back to the agent, and after ``tasks.maxAttempts`` failed
verifications the task is ``failed`` and a human is notified.
"""

from __future__ import annotations

import dataclasses
import shlex
import time
import typing as t

from ao.api.lifecycle import Lifecycle
from ao.api.sessions import Sessions
from ao.lifecycle import verifying
from ao.sdk.contracts import McpClient
from ao.sdk.errors import ConflictError, NotFoundError, UsageError
from ao.store import events
from ao.store.record import ORCHESTRATOR, timestamp
from ao.store.tasks import TaskRecord, TaskState, validate_task_id

if t.TYPE_CHECKING:
    from collections.abc import Sequence

    from ao.api.outcomes import Created
    from ao.session.context import Project


@dataclasses.dataclass(frozen=True)
class TaskInfo:
    """A task as ``ao task show`` reports it."""

    id: str
    project: str
    goal: str
    state: str
    session: str | None
    agent: str | None
    parent: str | None
    verify: tuple[str, ...]
    attempts: int
    max_attempts: int
    question: str | None
    reason: str | None
    output: str | None
    summary: str | None
    branch: str | None
    commits: tuple[str, ...]
    pr: str | None
    created_at: str | None
    state_since: str | None

    @classmethod
    def of(cls, project: str, task: TaskRecord) -> TaskInfo:
        """The public view of a stored task."""
        return cls(
            task.id, project, task.goal, task.state.value, task.session, task.agent,
            task.parent, tuple(shlex.join(a) for a in task.verify), task.attempts,
            task.max_attempts, task.question, task.reason, task.output, task.summary,
            task.branch, task.commits, task.pr,
            timestamp(task.created_at) if task.created_at else None,
            timestamp(task.state_since) if task.state_since else None,
        )  # fmt: skip

    @property
    def ended(self) -> bool:
        """Completed, failed or cancelled."""
        return self.state in {s.value for s in (TaskState.COMPLETED, TaskState.FAILED,
                                                TaskState.CANCELLED)}  # fmt: skip

    def to_json(self) -> dict[str, t.Any]:
        """The ``ao task show --json`` document's ``data``."""
        return {
            "id": self.id, "project": self.project, "goal": self.goal, "state": self.state,
            "session": self.session, "agent": self.agent, "parent": self.parent,
            "verify": list(self.verify), "attempts": self.attempts,
            "maxAttempts": self.max_attempts, "question": self.question, "reason": self.reason,
            "output": self.output,
            "result": {"summary": self.summary, "branch": self.branch,
                       "commits": list(self.commits), "pr": self.pr},
            "createdAt": self.created_at, "stateSince": self.state_since,
        }  # fmt: skip


ORCHESTRATOR_PROMPT = """\
You are the orchestrator of the project {project} in ao, which runs coding agents, each in \
its own git worktree and branch. You plan and delegate; you do not change code yourself.

Goal:
{goal}

How to work, with the tools of the `ao` MCP server:
1. Break the goal into independent tasks that can be done in parallel without editing the \
same files.
2. For each task call `create_task` with a precise goal and the commands that prove it done \
(`verify`, e.g. ["pytest -q"]). Each task gets its own worker agent; ao accepts its work only \
when those commands pass in its worktree.
3. Follow them with `list_agents`. ao sends you messages starting with "[ao]" when a task \
needs input, fails a verification, completes or fails. Answer a worker with `send_to_agent`; \
when a question needs the user's judgement, say so and wait.
4. When every task has ended, report: each task, its branch, and whether it completed.
"""


class Tasks(Sessions, Lifecycle):
    """Delegating goals to agents and following them to a verified result."""

    def create_task(
        self,
        goal: str,
        *,
        project: str | None = None,
        agent: str | None = None,
        verify: Sequence[Sequence[str] | str] | None = None,
        base: str | None = None,
        parent_session: str | None = None,
        requested_by: str | None = None,
        requested_by_project: str | None = None,
        name: str | None = None,
    ) -> TaskInfo:
        """Start a session working on ``goal`` and a task following it.

        ``verify``: commands (argv lists, or strings split like a shell would) that must
        pass in the worktree (default: the project's ``verify``). ``agent``: default the
        project's, else the best installed and logged-in one (``ao agents``). ``base`` or
        ``parent_session``: where the worktree starts, as for ``create``.
        ``requested_by``: the session that delegates it (an orchestrator agent), which is
        told as messages when the task needs input, fails a verification or ends.
        """
        from ao.session.delegate import start_task  # lazy: see ao.api.base

        proj = self._select(project)
        argvs = _commands(proj, verify)
        parent = None
        if requested_by is not None:
            owner = self.context.session_project(requested_by, requested_by_project)
            parent = (owner.id, requested_by)
        if parent_session is not None:
            if base is not None:
                raise UsageError("give a base branch or a parent session, not both")
            base = self._parent_branch(proj, parent_session)
        record = start_task(
            self.context, proj, goal, verify=argvs, agent=agent, base=base, name=name,
            parent=parent,
        )  # fmt: skip
        return TaskInfo.of(proj.id, record)

    def orchestrate(
        self, goal: str, *, project: str | None = None, agent: str | None = None,
        ready_timeout: float = 60.0,
    ) -> Created:  # fmt: skip
        """Start the project's orchestrator: an agent CLI given ao's MCP tools (``ao
        mcp``) and the instructions to break ``goal`` into tasks, delegate each to a
        worker (``create_task``), follow them and report. Its session is
        ``<prefix>-orchestrator``, listed first, never counted against ``maxSessions``
        and never stopped by the lifecycle; its workers' progress reaches it as messages.
        ``agent`` must be one that takes MCP servers (claude-code, codex, gemini); default: the
        project's. A project runs one orchestrator (ConflictError while it lives)."""
        from ao.session.spawn import spawn  # lazy: see ao.api.base

        goal = goal.strip()
        if not goal:
            raise UsageError("the orchestrator needs a goal")
        proj = self._select(project)
        name = f"{proj.prefix}-orchestrator"
        if proj.store.exists(name):
            raise ConflictError(
                f"project {proj.id!r} already has an orchestrator ({name})",
                hint=f"talk to it with `ao send {name} …`, or `ao stop {name}` first",
            )
        agent_name = self.context.agent_name(proj, agent)
        if not isinstance(self.context.agent(agent_name), McpClient):  # before anything is made
            raise UsageError(
                f"agent {agent_name!r} cannot be given MCP tools, which an orchestrator needs",
                hint="use claude-code, codex, gemini or kimicode (`--agent`)",
            )
        prompt = ORCHESTRATOR_PROMPT.format(project=proj.id, goal=goal)
        result = spawn(
            self.context, proj, prompt, agent_name=agent_name, name=name,
            ready_timeout=ready_timeout, metadata={"role": ORCHESTRATOR},
        )  # fmt: skip
        return self._created(self.context, proj, result)

    def tasks(self, *, project: str | None = None, open_only: bool = False) -> list[TaskInfo]:
        """Every task (of ``project``, else of every project), oldest first; with
        ``open_only`` only those not yet completed, failed or cancelled."""
        return [
            TaskInfo.of(p.id, task)
            for p in self._projects(project)
            for task in p.tasks.list()
            if not (open_only and task.ended)
        ]

    def task(self, task_id: str, *, project: str | None = None) -> TaskInfo:
        """One task by id (``task-3``), in ``project`` or wherever it is."""
        proj = self._task_project(task_id, project)
        return TaskInfo.of(proj.id, proj.tasks.read(task_id))

    def tasks_of(self, session_ids: Sequence[str]) -> dict[str, TaskInfo]:
        """The task each of ``session_ids`` works on (sessions without one are left out)."""
        wanted = set(session_ids)
        return {
            info.session: info
            for info in self.tasks()
            if info.session is not None and info.session in wanted
        }

    def cancel_task(
        self, task_id: str, *, project: str | None = None, stop: bool = True, force: bool = False
    ) -> TaskInfo:
        """Cancel a task that has not ended; with ``stop`` (default) its session is stopped
        too, keeping its work unless ``force`` (as ``stop``)."""
        proj = self._task_project(task_id, project)
        with proj.tasks.lock(task_id):
            task = proj.tasks.read(task_id)
            if task.ended:
                return TaskInfo.of(proj.id, task)
            before = task.state
            task = proj.tasks.update_locked(
                task_id, state=TaskState.CANCELLED, reason="cancelled by the user", question=None
            )
        verifying.end(proj.paths, task_id)  # a verification under way is for nobody now
        events.append(
            proj.paths, "task.cancelled", session=task.session, message=f"{task_id}: cancelled",
            data={"task": task_id, "from": before, "to": TaskState.CANCELLED},
        )  # fmt: skip
        if stop and task.session and proj.store.exists(task.session):
            self.stop(task.session, project=proj.id, force=force)
        return TaskInfo.of(proj.id, task)

    def wait_task(
        self, task_id: str, *, project: str | None = None, timeout: float = 3600.0,
        interval: float = 2.0,
    ) -> TaskInfo:  # fmt: skip
        """Follow a task until it ends (or ``timeout`` seconds pass: the task as it is
        then). Each round is a lifecycle pass (``run_pass``): the running watcher's, or one
        run here when no watcher runs, so this works from a plain shell."""
        proj = self._task_project(task_id, project)
        deadline = time.monotonic() + timeout
        while True:
            info = TaskInfo.of(proj.id, proj.tasks.read(task_id))
            if info.ended or time.monotonic() >= deadline:
                return info
            self.run_pass(project=proj.id, timeout=max(30.0, interval * 4))
            info = TaskInfo.of(proj.id, proj.tasks.read(task_id))
            if info.ended:
                return info
            time.sleep(min(interval, max(0.0, deadline - time.monotonic())))

    def _task_project(self, task_id: str, project: str | None) -> Project:
        validate_task_id(task_id)
        found = [p for p in self._projects(project) if p.tasks.exists(task_id)]
        if not found:
            raise NotFoundError(f"no task {task_id!r}", hint="see `ao task list`")
        if len(found) > 1:
            names = ", ".join(p.id for p in found)
            raise UsageError(f"task {task_id} exists in several projects ({names})",
                             hint="name one with --project")  # fmt: skip
        return found[0]


def _commands(
    proj: Project, verify: Sequence[Sequence[str] | str] | None
) -> tuple[tuple[str, ...], ...]:
    """The task's verify commands as argv tuples (default: the project's)."""
    if verify is None:
        return tuple(tuple(argv) for argv in proj.config.verify)
    argvs = []
    for command in verify:
        try:
            argv = shlex.split(command) if isinstance(command, str) else list(command)
        except ValueError as exc:  # an unclosed quote
            raise UsageError(f"invalid verify command {command!r}: {exc}") from None
        if not argv or not all(isinstance(word, str) for word in argv):
            raise UsageError(f"invalid verify command {command!r}",
                             hint='give a command line such as "pytest -q"')  # fmt: skip
        argvs.append(tuple(argv))
    return tuple(argvs)
