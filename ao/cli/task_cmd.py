"""``ao task``: create, list, show, wait for and cancel tasks (``ao.api`` ``Tasks``)."""

from __future__ import annotations

import typing as t

import typer

from ao.cli.common import orchestrator

if t.TYPE_CHECKING:
    from ao.api import TaskInfo

ProjectOpt = typer.Option(None, "--project", "-p", help="Project id (default: the one you are in).")
JsonOpt = typer.Option(False, "--json", help='Print JSON: {"v": 1, "data": ...}.')

task_app = typer.Typer(
    help="Tasks: a goal handed to an agent, completed only when its checks pass.",
    no_args_is_help=True,
)


@task_app.command("create")
def create(
    goal: str = typer.Argument(..., help="What the agent should achieve."),
    project: str = ProjectOpt,
    agent: str = typer.Option(
        None, "--agent", "-a", help="Agent plugin (default: the project's, else the best one)."
    ),
    verify: list[str] = typer.Option(
        None,
        "--verify",
        help='A command that must pass, e.g. "pytest -q" (repeatable; default: the '
        "project's verify).",
    ),
    base: str = typer.Option(None, "--base", help="Branch to start from (default: the project's)."),
    parent: str = typer.Option(None, "--from", help="Build on this session's branch instead."),
    wait: bool = typer.Option(False, "--wait", help="Follow it until it ends (`ao task wait`)."),
    json_out: bool = JsonOpt,
) -> None:
    """Start an agent on GOAL in its own session; the task completes when it finished its
    turn and every verify command passes in its worktree."""
    from ao.cli.output import info, spinner  # lazy: keeps `ao --help` fast

    api = orchestrator()
    with spinner("starting the task's session"):
        task = api.create_task(
            goal, project=project, agent=agent, verify=verify or None, base=base,
            parent_session=parent,
        )  # fmt: skip
    if wait:
        info(f"{task.id}: {task.state} in session {task.session}; waiting for it to end")
        task = api.wait_task(task.id, project=task.project)
    _show(task, json_out)
    if json_out:
        return
    if not wait:
        info(f"follow it with `ao task show {task.id}`; `ao watch` (or `ao start`) moves it")
    _exit(task, wait)


@task_app.command("list")
def list_(
    project: str = ProjectOpt,
    open_only: bool = typer.Option(False, "--open", help="Only tasks that have not ended."),
    json_out: bool = JsonOpt,
) -> None:
    """Every task: its state, session, attempts and result."""
    from ao.cli.output import emit_json, out, table  # lazy: keeps `ao --help` fast

    tasks = orchestrator().tasks(project=project, open_only=open_only)
    if json_out:
        emit_json([task.to_json() for task in tasks])
        return
    if not tasks:
        out("no tasks")
        return
    rows = [
        [task.id, task.project, task.state, task.session or "-",
         f"{task.attempts}/{task.max_attempts}", _one_line(task.goal, 50)]
        for task in tasks
    ]  # fmt: skip
    table(["TASK", "PROJECT", "STATE", "SESSION", "CHECKS", "GOAL"], rows)


@task_app.command("show")
def show(
    task_id: str = typer.Argument(..., metavar="TASK", help="A task id, e.g. task-3."),
    project: str = ProjectOpt,
    json_out: bool = JsonOpt,
) -> None:
    """One task: state, pending question, last verification output, result."""
    _show(orchestrator().task(task_id, project=project), json_out)


@task_app.command("wait")
def wait(
    task_id: str = typer.Argument(..., metavar="TASK", help="A task id, e.g. task-3."),
    project: str = ProjectOpt,
    timeout: float = typer.Option(3600.0, "--timeout", help="Seconds to wait at most."),
    json_out: bool = JsonOpt,
) -> None:
    """Follow a task until it ends, running lifecycle passes when no watcher does; exits
    0 when it completed, 1 when it failed or was cancelled, 7 on timeout."""
    task = orchestrator().wait_task(task_id, project=project, timeout=timeout)
    _show(task, json_out)
    _exit(task, True)


@task_app.command("cancel")
def cancel(
    task_id: str = typer.Argument(..., metavar="TASK", help="A task id, e.g. task-3."),
    project: str = ProjectOpt,
    keep_session: bool = typer.Option(False, "--keep-session", help="Leave its agent running."),
    force: bool = typer.Option(False, "--force", help="Stop its session as `ao stop --force`."),
    json_out: bool = JsonOpt,
) -> None:
    """Cancel a task; its session is stopped too (its work kept, as `ao stop`)."""
    task = orchestrator().cancel_task(task_id, project=project, stop=not keep_session, force=force)
    _show(task, json_out)


def orchestrate(
    goal: str = typer.Argument(..., help="What the orchestrator should achieve, with workers."),
    project: str = ProjectOpt,
    agent: str = typer.Option(
        None, "--agent", "-a", help="claude-code, codex or gemini (default: the project's agent)."
    ),
    json_out: bool = JsonOpt,
) -> None:
    """Start an orchestrator agent: it plans GOAL into tasks, gives each to a worker agent
    through ao's MCP tools, follows them and reports."""
    from ao.cli.output import emit_json, out, spinner  # lazy: keeps `ao --help` fast

    api = orchestrator()
    with spinner("starting the orchestrator"):
        created = api.orchestrate(goal, project=project, agent=agent)
    if json_out:
        emit_json(created.to_json())
        return
    out(f"orchestrator {created.id} started ({created.session.agent}); it delegates with "
        "`ao mcp`'s tools")  # fmt: skip
    out(f"  follow: ao status    its tasks: ao task list    talk to it: ao send {created.id} …")
    out(f"  watch it work: ao attach {created.id}")


def _show(task: TaskInfo, json_out: bool) -> None:
    from ao.cli.output import emit_json, out  # lazy: keeps `ao --help` fast

    if json_out:
        emit_json(task.to_json())
        return
    out(f"{task.id}  {task.state}  ({task.project}, session {task.session or '-'}, "
        f"agent {task.agent or '-'})")  # fmt: skip
    out(f"  goal: {_one_line(task.goal, 200)}")
    if task.verify:
        out(f"  verify: {'; '.join(task.verify)}  ({task.attempts}/{task.max_attempts} runs)")
    if task.question:
        out("  question:")
        for line in task.question.splitlines():
            out(f"    {line}")
    if task.reason:
        out(f"  reason: {task.reason}")
    if task.output and task.state != "completed":
        out("  last verification output:")
        for line in task.output.strip().splitlines()[-15:]:
            out(f"    {line}")
    if task.summary:
        out(f"  result: {task.summary}")
    if task.branch:
        out(f"  branch: {task.branch}" + (f"  PR: {task.pr}" if task.pr else ""))
    for commit in task.commits:
        out(f"    {commit}")


def _exit(task: TaskInfo, waited: bool) -> None:
    if not waited or task.state == "completed":
        return
    raise typer.Exit(1 if task.ended else 7)


def _one_line(text: str, width: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def register(app: typer.Typer) -> None:
    """Add ``ao task`` to ``app``."""
    app.add_typer(task_app, name="task")
    app.command("orchestrate")(orchestrate)
