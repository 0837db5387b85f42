"""The tools ``ao mcp`` serves: delegate (tasks, agents), talk, list, stop, publish.

Each tool is a thin call of ``ao.api.Orchestrator``: its arguments are the schema (pydantic
checks them against the signature before the call), the blocking API runs in a worker
thread (``anyio.to_thread``) so the stdio loop keeps serving, and an ``AoError`` becomes a
tool error whose text is the CLI's message and hint. Results are short JSON objects.

Inside an ao session (``AO_SESSION_ID``/``AO_PROJECT`` set: an orchestrator agent runs
this server) a task names that session as the one that delegated it, so ao tells it of
the task's progress, and the project defaults to the session's.
"""

from __future__ import annotations

import typing as t
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import anyio.to_thread
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from ao.sdk.errors import AoError, UsageError
from ao.sdk.redact import redact
from ao.store.oserrors import from_os_error

if t.TYPE_CHECKING:
    from ao.api import Orchestrator, TaskInfo

T = t.TypeVar("T")
JSON = dict[str, Any]

# the argument types, with what a client is told about each
Project = Annotated[
    str | None,
    Field(
        description="Project id (default: from_session's project, else, inside an ao session, "
        "that session's, else the only one)."
    ),
]
ListProject = Annotated[
    str | None, Field(description="Only this project's sessions (default: every project).")
]
TaskProject = Annotated[
    str | None, Field(description="The task's project (default: wherever the task id is).")
]
Agent = Annotated[
    str | None,
    Field(
        description="Agent plugin, e.g. claude-code, codex (default: the project's, else "
        "the best installed one)."
    ),
]
FromSession = Annotated[
    str | None,
    Field(
        description="A live session whose branch the new worktree builds on (its commits, "
        "pushed or not)."
    ),
]
Session = Annotated[str, Field(min_length=1, description="A session id, e.g. ma-3.")]
TaskId = Annotated[str, Field(min_length=1, description="A task id, e.g. task-3.")]


def error_text(exc: AoError) -> str:
    """The CLI's error line without its ``ao: error:`` prefix (secrets redacted)."""
    hint = f" — {exc.hint}" if exc.hint else ""
    return redact(f"{exc.message}{hint}")


def usage(message: str, hint: str | None = None) -> ToolError:
    """A call ao would refuse as a usage error (the CLI's exit 2), as a tool error."""
    return ToolError(error_text(UsageError(message, hint=hint)))


def task_brief(task: TaskInfo) -> JSON:
    """A task in a listing: enough to decide what to do next."""
    return {
        "id": task.id,
        "state": task.state,
        "attempts": task.attempts,
        "max_attempts": task.max_attempts,
        "question": task.question,
    }


class Tools:
    """The tools over one ``Orchestrator``; ``env`` says whether this runs inside a session."""

    def __init__(self, api: Orchestrator, env: Mapping[str, str]) -> None:
        self.api = api
        self.caller = env.get("AO_SESSION_ID") or None
        self.caller_project = env.get("AO_PROJECT") or None

    async def _run(self, call: Callable[[], T]) -> T:
        """``call`` in a worker thread; ao's errors as tool errors with the CLI's text."""
        try:
            return await anyio.to_thread.run_sync(call)
        except AoError as exc:
            raise ToolError(error_text(exc)) from None
        except OSError as exc:  # a full disk, an unwritable AO_HOME: one line naming the path
            raise ToolError(error_text(from_os_error(exc))) from None

    def _project(self, project: str | None, from_session: str | None = None) -> str | None:
        """The project a new session goes to: the one named, else the parent session's,
        else the calling session's (blocking: call it in the worker thread)."""
        if project:
            return project
        if from_session:
            return self.api.status(from_session, details=False).session.project
        return self.caller_project

    # ------------------------------------------------------------------ delegate

    async def create_task(
        self,
        goal: Annotated[str, Field(min_length=1, description="What the agent should achieve.")],
        project: Project = None,
        agent: Agent = None,
        verify: Annotated[
            list[str] | None,
            Field(
                description='Commands that must pass in the worktree, e.g. ["pytest -q"] '
                "(default: the project's verify)."
            ),
        ] = None,
        from_session: FromSession = None,
        base: Annotated[
            str | None, Field(description="Branch to start from (default: the project's).")
        ] = None,
    ) -> JSON:
        """Start a worker agent on GOAL in its own session, git worktree and branch, and a
        task that follows it: the task completes only when the agent finished its turn and
        every verify command passes in its worktree; a failure goes back to the agent. When
        this server runs inside an ao session, that session is told as messages when the
        task needs input, fails a check or ends. Follow it with task_status or list_agents."""

        def call() -> TaskInfo:
            return self.api.create_task(
                goal,
                project=self._project(project, from_session),
                agent=agent,
                verify=verify,
                base=base,
                parent_session=from_session,
                requested_by=self.caller,
                requested_by_project=self.caller_project if self.caller else None,
            )

        task = await self._run(call)
        return {
            "task": task.id,
            "session": task.session,
            "project": task.project,
            "state": task.state,
            "branch": task.branch,
            "agent": task.agent,
            "requested_by": task.parent,
        }

    async def spawn_agent(
        self,
        task: Annotated[str, Field(min_length=1, description="The prompt the agent starts with.")],
        project: Project = None,
        agent: Agent = None,
        branch: Annotated[
            str | None, Field(description="Branch name (default: ao/<session>).")
        ] = None,
        from_session: FromSession = None,
    ) -> JSON:
        """Start a coding agent on TASK in its own session, git worktree and branch, without
        a task to verify it (create_task is that plus verification). Returns the session id
        to use with send_to_agent, list_agents, finalize_workspace and stop_agent."""
        created = await self._run(
            lambda: self.api.create(
                task,
                project=self._project(project, from_session),
                agent=agent,
                branch=branch,
                parent=from_session,
            )
        )
        return {
            "session": created.id,
            "project": created.project,
            "branch": created.branch,
            "worktree": str(created.worktree) if created.worktree else None,
            "delivery": created.delivery,
        }

    # ------------------------------------------------------------------ talk, observe

    async def send_to_agent(
        self,
        session: Session,
        text: Annotated[
            str | None, Field(description="A message, delivered to the agent as one input.")
        ] = None,
        keys: Annotated[
            list[str] | None,
            Field(
                description='Keys to press instead, e.g. ["Down", "Enter"], ["Escape"], '
                '["C-c"]: to answer a menu or interrupt.'
            ),
        ] = None,
    ) -> JSON:
        """Send a session's agent a message (TEXT) or key presses (KEYS): exactly one. A busy
        agent gets the message queued and delivered when its turn ends (status "queued")."""
        if (text is None) == (keys is None):
            raise usage(
                "give text or keys — exactly one",
                hint='text for a message, keys (e.g. ["Enter"]) to press keys',
            )
        if text is not None:
            sent = await self._run(lambda: self.api.send(session, text))
            return sent.to_json()
        pressed = await self._run(lambda: self.api.send_keys(session, keys or []))
        return {"session": pressed.session, "status": "pressed", "detail": pressed.detail}

    async def list_agents(self, project: ListProject = None) -> JSON:
        """Every live session (of PROJECT, else of every project): status, activity, branch,
        the question it waits on (activity needs_input), and its task (id, state,
        verification attempts, question); then open tasks whose session is gone."""

        def call() -> JSON:
            cards = self.api.cards(project)
            tasks = self.api.tasks_of([c.id for c in cards])
            rows = []
            for card in cards:
                s = card.session
                row: JSON = {
                    "session": s.id,
                    "project": s.project,
                    "agent": s.agent,
                    "role": s.role,
                    "status": s.status,
                    "activity": s.activity,
                    "branch": s.branch,
                }
                if s.activity == "needs_input":
                    row["question"] = card.evidence.detail
                task = tasks.get(s.id)
                row["task"] = task_brief(task) if task else None
                rows.append(row)
            live = {c.id for c in cards}
            orphans = [
                {**task_brief(task), "session": task.session, "goal": task.goal[:200]}
                for task in self.api.tasks(project=project, open_only=True)
                if task.session not in live
            ]
            return {"sessions": rows, "tasks_without_session": orphans}

        return await self._run(call)

    async def task_status(self, task: TaskId, project: TaskProject = None) -> JSON:
        """One task as `ao task show` has it: state, session, verify commands, attempts,
        the pending question, the last verification output, the result (branch, commits)."""
        info = await self._run(lambda: self.api.task(task, project=project))
        return info.to_json()

    # ------------------------------------------------------------------ end, publish

    async def cancel_task(
        self,
        task: TaskId,
        project: TaskProject = None,
        keep_session: Annotated[bool, Field(description="Leave its agent running.")] = False,
        force: Annotated[
            bool, Field(description="Stop its session as stop_agent with force.")
        ] = False,
    ) -> JSON:
        """Cancel a task that has not ended; its session is stopped too (its work kept)."""
        info = await self._run(
            lambda: self.api.cancel_task(task, project=project, stop=not keep_session, force=force)
        )
        return info.to_json()

    async def stop_agent(
        self,
        session: Session,
        force: Annotated[
            bool,
            Field(
                description="Also remove a worktree holding work, after saving it (a WIP "
                "commit on the branch; ignored files moved aside)."
            ),
        ] = False,
    ) -> JSON:
        """End a session's agent and archive the session. Its worktree is removed unless it
        holds work (uncommitted changes, unpushed commits): then it is kept and
        kept_reason says why. Branches with unpushed commits are never deleted."""
        stopped = await self._run(lambda: self.api.stop(session, force=force))
        return stopped.to_json()

    async def provision_workspace(
        self,
        repo: Annotated[
            str | None,
            Field(
                description="A repository to add as a project: a URL (cloned next to ao's "
                "config) or a local path."
            ),
        ] = None,
        from_session: Annotated[
            str | None, Field(description="A live session whose branch to build on.")
        ] = None,
        name: Annotated[
            str | None, Field(description="Project id for REPO (default: its directory's name).")
        ] = None,
    ) -> JSON:
        """Get a workspace ready for the next create_task / spawn_agent. In ao a worktree (and
        its branch) is always created with its session, so nothing is checked out here:
        with REPO the repository becomes a project (cloned first if a URL); with
        FROM_SESSION the answer names that session's project and branch. Pass the returned
        project (and from_session or base) to create_task or spawn_agent."""
        if repo and from_session:
            raise usage("give repo or from_session, not both")

        def call() -> JSON:
            if from_session:
                parent = self.api.status(from_session, details=False).session
                return {
                    "project": parent.project,
                    "from_session": parent.id,
                    "branch": parent.branch,
                    "base": None,
                    "added_project": False,
                    "cloned": False,
                }
            added = None
            if repo:
                added = self.api.add_project(repo, name=name)
            info = self.api.select_project(added.project if added else self.caller_project)
            return {
                "project": info.id,
                "from_session": None,
                "branch": None,
                "base": info.default_branch,
                "path": str(info.path),
                "added_project": bool(added and added.added_project),
                "cloned": bool(added and added.cloned),
            }

        return await self._run(call)

    async def finalize_workspace(
        self,
        session: Session,
        pr: Annotated[bool, Field(description="Also open a pull request.")] = False,
        title: Annotated[
            str | None, Field(description="Pull request title (default: the issue's).")
        ] = None,
        body: Annotated[
            str | None, Field(description="Pull request body (default: Closes #N).")
        ] = None,
        draft: Annotated[bool, Field(description="Open the pull request as a draft.")] = False,
    ) -> JSON:
        """Publish a session's work: commit what the agent left in its worktree, push its
        branch to origin and, with PR, open the pull request."""
        published = await self._run(
            lambda: self.api.finalize(session, pr=pr, title=title, body=body, draft=draft)
        )
        return published.to_json()


# name -> (reference action names, read-only, destructive); the order `tools/list` shows
CATALOG: dict[str, tuple[tuple[str, ...], bool, bool]] = {
    "create_task": (("CREATE_TASK", "START_CODING_TASK"), False, False),
    "spawn_agent": (("SPAWN_AGENT", "SPAWN_CODING_AGENT"), False, False),
    "send_to_agent": (("SEND_TO_AGENT", "SEND_TO_CODING_AGENT"), False, False),
    "list_agents": (("LIST_AGENTS", "LIST_CODING_AGENTS"), True, False),
    "task_status": (("TASK_STATUS",), True, False),
    "cancel_task": (("CANCEL_TASK",), False, True),
    "stop_agent": (("STOP_AGENT", "STOP_CODING_AGENT"), False, True),
    "provision_workspace": (("PROVISION_WORKSPACE",), False, False),
    "finalize_workspace": (("FINALIZE_WORKSPACE",), False, False),
}
