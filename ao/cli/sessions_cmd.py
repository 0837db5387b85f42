"""Session commands: new, list, status, send, logs, attach, stop, restore.

Each parses its options, calls one ``ao.api.Orchestrator`` method and renders the result.
"""

from __future__ import annotations

import sys
import typing as t
from pathlib import Path

import typer

from ao.cli.common import orchestrator

if t.TYPE_CHECKING:
    from ao.api import Orchestrator, SessionState

ProjectOpt = typer.Option(None, "--project", "-p", help="Project id (default: the one you are in).")
JsonOpt = typer.Option(False, "--json", help='Print JSON: {"v": 1, "data": ...}.')


def _stdin(what: str) -> str:
    """UTF-8 text from stdin, read no further than the size limit (``ao.session.inputs``)."""
    # lazy: loaded by this command only, so `ao --help` stays fast
    from ao.session.inputs import read_bounded

    return read_bounded(sys.stdin.buffer, what)


def new(
    task: str = typer.Argument(
        None, help="What the agent should do (use - to read stdin); optional with --issue."
    ),
    project: str = ProjectOpt,
    issue: str = typer.Option(
        None,
        "--issue",
        "-i",
        help="An issue of the project's tracker (7, #7 or its URL): its text joins the task, "
        "and the session is linked to it (branch name, `ao finalize`'s Closes #N).",
    ),
    agent: str = typer.Option(None, "--agent", "-a", help="Agent plugin (default: config)."),
    branch: str = typer.Option(None, "--branch", "-b", help="Branch name (default: ao/<session>)."),
    name: str = typer.Option(None, "--name", "-n", help="Session id instead of <prefix>-<N>."),
    base: str = typer.Option(None, "--base", help="Branch to start from (default: the project's)."),
    parent: str = typer.Option(
        None, "--from", help="Build on this session's branch (its commits) instead."
    ),
    host: str = typer.Option(
        None, "--host", help="Run it on this host (the ssh runtime; default: most free)."
    ),
    ready_timeout: float = typer.Option(30.0, help="Seconds to wait for the agent to be ready."),
    json_out: bool = JsonOpt,
) -> None:
    """Start a session: a worktree on its own branch and the agent in its own tmux session."""
    # lazy: loaded by this command only, so `ao --help` stays fast
    from ao.cli.output import emit_json, out, spinner

    if task == "-":
        task = _stdin("stdin")
    api = orchestrator()
    with spinner(f"starting a session in {api.select_project(project).id}"):
        result = api.create(
            task, project=project, issue=issue, agent=agent, branch=branch, name=name,
            base=base, parent=parent, host=host, ready_timeout=ready_timeout,
        )  # fmt: skip
    if json_out:
        emit_json(result.to_json())
        return
    if result.delivery == "queued":
        out(
            f"queued {result.id}: the session limit is reached; `ao watch` starts it "
            "when a slot frees up"
        )
        return
    out(f"started {result.id} on {result.branch} ({result.delivery})")
    out(f"  worktree: {result.worktree}")
    out(f"  attach:   ao attach {result.id}")


def list_(
    project: str = ProjectOpt,
    all_: bool = typer.Option(False, "--all", help="Include stopped (archived) sessions."),
    json_out: bool = JsonOpt,
) -> None:
    """List sessions with their status and live activity."""
    _render(orchestrator().sessions(project, archived=all_), json_out)


COLUMNS = ["SESSION", "PROJECT", "AGENT", "STATUS", "ACTIVITY", "BRANCH", "TASK"]


def _row(s: SessionState) -> list[str]:
    return [s.id, s.project or "", s.agent or "", s.status, s.activity, s.branch or "-",
            _short(s.task or "")]  # fmt: skip


def _render(rows: list[SessionState], json_out: bool) -> None:
    # lazy: loaded by this command only, so `ao --help` stays fast
    from ao.cli.output import emit_json, out, table

    if json_out:
        emit_json([r.to_json() for r in rows])
        return
    if not rows:
        out("no sessions (start one with `ao new TASK`)")
        return
    table(COLUMNS, [_row(r) for r in rows])


def _short(text: str, width: int = 48) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def status(
    session_id: str = typer.Argument(None, metavar="[SESSION]", help="One session in detail."),
    project: str = ProjectOpt,
    watch: bool = typer.Option(False, "--watch", "-w", help="Keep the view live (Ctrl-C ends)."),
    interval: float = typer.Option(2.0, "--interval", min=0.2, help="Seconds between refreshes."),
    json_out: bool = JsonOpt,
) -> None:
    """Show sessions with their live activity, or one session with the evidence behind it."""
    # lazy: loaded by this command only, so `ao --help` stays fast
    from ao.cli.output import emit_json, out
    from ao.sdk.errors import UsageError

    api = orchestrator()
    if watch:
        if json_out or session_id:
            raise UsageError("--watch shows all sessions as a table; drop --json/SESSION")
        _live(api, project, interval)
        return
    if session_id is None:
        _render(api.sessions(project), json_out)
        if not json_out:
            for run in api.fix_runs(project=project):
                counts: dict[str, int] = {}
                for item in run.items:
                    counts[item.state] = counts.get(item.state, 0) + 1
                summary = ", ".join(f"{n} {state}" for state, n in counts.items())
                out(f"fix ({run.project}): {summary} — `ao fix status`")
        return
    data = api.status(session_id, project=project).to_json()
    if json_out:
        emit_json(data)
        return
    details = data.pop("info") or {}
    ev = data["evidence"]
    age = f" ({ev['age']:.0f}s old)" if ev["age"] is not None else ""
    data["evidence"] = f"{ev['source']}: {ev['detail']}{age}"
    data["summary"] = details.get("summary")
    if details.get("input_tokens") is not None or details.get("output_tokens") is not None:
        tokens_in, tokens_out = details.get("input_tokens") or 0, details.get("output_tokens") or 0
        data["tokens"] = f"{tokens_in} in / {tokens_out} out"
    if details.get("cost_usd") is not None:
        data["cost"] = f"${details['cost_usd']:.4f}"
    width = max(len(k) for k in data)
    for key, value in data.items():
        if value not in (None, ""):
            out(f"{key:<{width}}  {value}")


def _live(api: Orchestrator, project: str | None, interval: float) -> None:
    """A live table of every session, refreshed from two tmux calls per refresh."""
    # lazy: loaded by this command only, so `ao --help` stays fast
    import time

    from rich.live import Live
    from rich.table import Table

    from ao.cli.output import console

    def render() -> Table:
        table = Table(title=f"ao sessions · {time.strftime('%H:%M:%S')}", box=None)
        for col in COLUMNS:
            table.add_column(col)
        for s in api.sessions(project):
            table.add_row(*_row(s))
        return table

    with Live(render(), console=console(), auto_refresh=False) as live:
        try:
            while True:
                time.sleep(interval)
                live.update(render(), refresh=True)
        except KeyboardInterrupt:
            return


def send(
    session_id: str = typer.Argument(..., metavar="SESSION"),
    text: str = typer.Argument(None, help="Message text; '-' reads stdin."),
    file: Path = typer.Option(None, "--file", "-f", help="Read the message from a file."),
    project: str = ProjectOpt,
    wait: float = typer.Option(
        10.0, help="Seconds to wait for the agent to be ready before queueing."
    ),
    interrupt: bool = typer.Option(
        False, "--interrupt", help="Stop the agent's turn in progress first (e.g. Escape)."
    ),
    json_out: bool = JsonOpt,
) -> None:
    """Deliver a message to a session's agent: delivered, queued (busy), or unconfirmed."""
    # lazy: loaded by this command only, so `ao --help` stays fast
    from ao.cli.output import emit_json, info, out
    from ao.sdk.errors import UsageError

    sources = [text is not None, file is not None]
    if sum(sources) != 1:
        raise UsageError("give the message as TEXT, '-' (stdin) or --file F — exactly one")
    if file is not None:
        # lazy: loaded by this command only, so `ao --help` stays fast
        from ao.session.inputs import read_text_file

        message = read_text_file(file)
    elif text == "-":
        message = _stdin("stdin")
    else:
        message = text
    result = orchestrator().send(
        session_id, message, project=project, wait=wait, interrupt=interrupt
    )
    if json_out:
        emit_json(result.to_json())
    else:
        out(f"{result.status}: {result.detail}")
    if result.status == "unconfirmed":
        info(
            f"ao: the message reached {session_id}'s input but no turn started; "
            f"check `ao logs {session_id}`"
        )
        raise typer.Exit(1)


def logs(
    session_id: str = typer.Argument(..., metavar="SESSION"),
    lines: int = typer.Option(50, "-n", "--lines", min=1, help="Number of lines."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new output."),
    project: str = ProjectOpt,
) -> None:
    """Print what the session's agent shows (its saved last screen once stopped)."""
    # lazy: loaded by this command only, so `ao --help` stays fast
    from ao.cli.output import out

    api = orchestrator()
    if follow:
        for line in api.follow(session_id, project=project):
            out(line)
            sys.stdout.flush()
        return
    out(api.logs(session_id, project=project, lines=lines))


def attach(
    session_id: str = typer.Argument(..., metavar="SESSION"),
    project: str = ProjectOpt,
    print_only: bool = typer.Option(
        False, "--print", help="Print the command instead of running it."
    ),
) -> None:
    """Attach to the session's tmux session (switch-client when already inside tmux)."""
    # lazy: loaded by this command only, so `ao --help` stays fast
    import os
    import shlex

    from ao.cli.output import out

    argv = orchestrator().attach_command(session_id, project=project)
    if print_only:
        out(shlex.join(argv))
        return
    os.execvp(argv[0], argv)


def stop(
    session_id: str = typer.Argument(None, metavar="[SESSION]"),
    project: str = ProjectOpt,
    all_: bool = typer.Option(False, "--all", help="Stop every session of --project."),
    force: bool = typer.Option(
        False,
        "--force",
        help="Remove worktrees with work (ignored files and nested repos are moved to "
        "$AO_HOME/<project>/saved/, uncommitted work is saved as a WIP commit first).",
    ),
    json_out: bool = JsonOpt,
) -> None:
    """Stop sessions: end the agent, archive metadata, keep any worktree holding work."""
    # lazy: loaded by this command only, so `ao --help` stays fast
    from ao.cli.output import emit_json, out
    from ao.sdk.errors import UsageError

    api = orchestrator()
    if all_:
        if session_id or not project:
            raise UsageError("use either SESSION or --project P --all")
        results = api.stop_all(project, force=force)
    elif session_id:
        results = [api.stop(session_id, project=project, force=force)]
    else:
        raise UsageError("name a SESSION, or use --project P --all")
    if json_out:
        emit_json([r.to_json() for r in results])
        return
    for r in results:
        if r.kept_reason:
            out(f"stopped {r.id}; kept its worktree ({r.kept_reason}): {r.worktree}")
            out(f"  resume with `ao restore {r.id}`")
        elif r.snapshot:
            out(f"stopped {r.id}; uncommitted work saved as commit {r.snapshot[:12]} on its branch")
        else:
            out(f"stopped {r.id}")
        if r.saved:
            out(f"  ignored files and nested repos it held were moved to {r.saved}")


def restore(
    session_id: str = typer.Argument(..., metavar="SESSION"),
    project: str = ProjectOpt,
    resend: bool = typer.Option(
        False, "--resend", help="Type the original task again after launch."
    ),
    json_out: bool = JsonOpt,
) -> None:
    """Restart a stopped or exited session in its worktree, on its branch, with the same id."""
    # lazy: loaded by this command only, so `ao --help` stays fast
    from ao.cli.output import emit_json, out

    session = orchestrator().restore(session_id, project=project, resend=resend)
    if json_out:
        emit_json(session.to_json())
    else:
        out(f"restored {session_id} in {session.worktree or ''}")


def register(app: typer.Typer) -> None:
    """Add the session commands to ``app``."""
    app.command("new")(new)
    app.command("list")(list_)
    app.command("status")(status)
    app.command("send")(send)
    app.command("logs")(logs)
    app.command("attach")(attach)
    app.command("stop")(stop)
    app.command("restore")(restore)
