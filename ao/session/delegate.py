"""Starting a task: a session on the goal and the task record that follows it.

The API's ``create_task`` and ``ao fix`` (one task per failing test or file) both start
tasks here; the lifecycle (``ao.lifecycle.tasks``) moves them from then on.
"""

from __future__ import annotations

import shlex
import typing as t

from ao.sdk.errors import UsageError
from ao.session.spawn import spawn
from ao.store import events
from ao.store.record import now
from ao.store.tasks import TaskRecord, TaskState

if t.TYPE_CHECKING:
    from collections.abc import Sequence

    from ao.session.context import Context, Project


def task_prompt(goal: str, verify: Sequence[Sequence[str]]) -> str:
    """What the worker agent is told: the goal and how its work will be checked."""
    if not verify:
        return goal
    checks = "\n".join(f"- `{shlex.join(argv)}`" for argv in verify)
    return (
        f"{goal}\n\nWhen you are done, finish your turn. Your work is accepted only when "
        f"these commands pass in this worktree (run them yourself first):\n{checks}"
    )


def start_task(
    ctx: Context,
    project: Project,
    goal: str,
    *,
    verify: Sequence[Sequence[str]] = (),
    agent: str | None = None,
    prompt: str | None = None,
    base: str | None = None,
    branch: str | None = None,
    name: str | None = None,
    parent: tuple[str, str] | None = None,
    gate: str | None = None,
) -> TaskRecord:
    """Spawn a session on ``goal`` (``prompt``: the text the agent gets instead of the
    goal and its checks) and record the task that follows it. ``parent``: (project,
    session) told of its progress. ``gate``: an extra verification ao runs (``fix:<item>``).
    Past ``maxSessions`` the session, and so the task, waits (``pending``)."""
    goal = goal.strip()
    if not goal:
        raise UsageError("a task needs a goal")
    agent_name = ctx.agent_name(project, agent)
    if prompt is None:  # the shell agent's task is a command line: nothing may be added
        prompt = goal if agent_name == "shell" else task_prompt(goal, verify)
    started = now()
    result = spawn(ctx, project, prompt, agent_name=agent_name, branch=branch, name=name,
                   base=base)  # fmt: skip
    parent_project, parent_session = parent if parent is not None else (None, None)
    record = project.tasks.create(
        goal=goal, session=result.session_id, agent=agent_name,
        verify=tuple(tuple(a) for a in verify), parent=parent_session,
        parent_project=parent_project if parent_project != project.id else None,
        max_attempts=ctx.config.tasks.max_attempts, turn_at=started, gate=gate,
        state=TaskState.PENDING if result.delivery == "queued" else TaskState.RUNNING,
        branch=result.branch,
    )  # fmt: skip
    events.append(
        project.paths, "task.created", session=result.session_id,
        message=f"{record.id}: {goal[:200]}",
        data={"task": record.id, "agent": agent_name, "verify": [list(a) for a in verify],
              "parent": parent_session, "gate": gate},
    )  # fmt: skip
    return record
