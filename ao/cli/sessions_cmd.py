"""Session commands: new, list, status, send, logs, attach, stop, restore."""

from __future__ import annotations

import sys
import typing as t
from pathlib import Path

import typer

if t.TYPE_CHECKING:
    from ao.session.context import Context, Project
    from ao.session.ops import SessionView
    from ao.store.state import Session

ProjectOpt = typer.Option(None, "--project", "-p", help="Project id (default: the one you are in).")
JsonOpt = typer.Option(False, "--json", help='Print JSON: {"v": 1, "data": ...}.')


def _ctx() -> Context:
    from ao.session.context import Context

    return Context.load()


def _find(ctx: Context, session_id: str, project: str | None) -> tuple[Project, Session]:
    from ao.store.state import validate_session_id

    validate_session_id(session_id)
    return ctx.find_session(session_id, project)


def _stdin(what: str) -> str:
    """UTF-8 text from stdin, read no further than the size limit (``ao.session.inputs``)."""
    from ao.session.inputs import read_bounded

    return read_bounded(sys.stdin.buffer, what)


def new(
    task: str = typer.Argument(..., help="What the agent should do (use - to read stdin)."),
    project: str = ProjectOpt,
    agent: str = typer.Option(None, "--agent", "-a", help="Agent plugin (default: config)."),
    branch: str = typer.Option(None, "--branch", "-b", help="Branch name (default: ao/<session>)."),
    name: str = typer.Option(None, "--name", "-n", help="Session id instead of <prefix>-<N>."),
    ready_timeout: float = typer.Option(30.0, help="Seconds to wait for the agent to be ready."),
    json_out: bool = JsonOpt,
) -> None:
    """Start a session: a worktree on its own branch and the agent in its own tmux session."""
    from ao.cli.output import emit_json, out, spinner
    from ao.session.spawn import spawn

    if task == "-":
        task = _stdin("stdin")
    ctx = _ctx()
    proj = ctx.select_project(project)
    with spinner(f"starting a session in {proj.id}"):
        result = spawn(
            ctx, proj, task, agent_name=agent, branch=branch, name=name, ready_timeout=ready_timeout
        )
    if json_out:
        session = proj.store.read(result.session_id)
        from ao.session.ops import view

        data = view(ctx, session).to_json()
        data["delivery"] = result.delivery
        emit_json(data)
        return
    if result.delivery == "queued":
        out(
            f"queued {result.session_id}: the session limit is reached; `ao watch` starts it "
            "when a slot frees up"
        )
        return
    out(f"started {result.session_id} on {result.branch} ({result.delivery})")
    out(f"  worktree: {result.worktree}")
    out(f"  attach:   ao attach {result.session_id}")


def list_(
    project: str = ProjectOpt,
    all_: bool = typer.Option(False, "--all", help="Include stopped (archived) sessions."),
    json_out: bool = JsonOpt,
) -> None:
    """List sessions with their status and live activity."""
    from ao.session.ops import views

    ctx = _ctx()
    projects = [ctx.project(project)] if project else ctx.projects()
    rows = [v.to_json() for v in views(ctx, projects)]
    if all_:
        rows += _archived_rows(projects)
    _render(rows, json_out)


ARCHIVED_KEYS = (
    "id", "project", "agent", "runtime", "branch", "worktree", "created_at", "updated_at",
    "task", "error", "archived_at",
)  # fmt: skip


def _archived_rows(projects: list[Project]) -> list[dict[str, t.Any]]:
    rows = []
    for proj in projects:
        for record in proj.store.archived_all():
            data = record.data
            rows.append(
                {
                    **{key: data.get(key) for key in ARCHIVED_KEYS},
                    "status": data.get("status", "killed"),
                    "activity": "exited",
                    "tmux": None,
                }
            )
    return rows


def _render(rows: list[dict[str, t.Any]], json_out: bool) -> None:
    from ao.cli.output import emit_json, out, table

    if json_out:
        emit_json(rows)
        return
    if not rows:
        out("no sessions (start one with `ao new TASK`)")
        return
    table(
        ["SESSION", "PROJECT", "AGENT", "STATUS", "ACTIVITY", "BRANCH", "TASK"],
        [
            [r["id"], r["project"], r["agent"], r["status"], r["activity"], r["branch"] or "-",
             _short(r["task"] or "")]
            for r in rows
        ],
    )  # fmt: skip


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
    import dataclasses

    from ao.cli.output import emit_json, out
    from ao.sdk.errors import UsageError
    from ao.session.ops import info, view, views

    ctx = _ctx()
    if watch:
        if json_out or session_id:
            raise UsageError("--watch shows all sessions as a table; drop --json/SESSION")
        _live(ctx, project, interval)
        return
    if session_id is None:
        projects = [ctx.project(project)] if project else ctx.projects()
        _render([v.to_json() for v in views(ctx, projects)], json_out)
        return
    _, session = _find(ctx, session_id, project)
    v = view(ctx, session)
    data = _detail(ctx, v)
    known = info(ctx, session)
    data["info"] = dataclasses.asdict(known) if known is not None else None
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


def _live(ctx: Context, project: str | None, interval: float) -> None:
    """A live table of every session, refreshed from two tmux calls per refresh."""
    import time

    from rich.live import Live
    from rich.table import Table

    from ao.cli.output import console
    from ao.session.ops import views

    def render() -> Table:
        projects = [ctx.project(project)] if project else ctx.projects()
        table = Table(title=f"ao sessions · {time.strftime('%H:%M:%S')}", box=None)
        for col in ("SESSION", "PROJECT", "AGENT", "STATUS", "ACTIVITY", "BRANCH", "TASK"):
            table.add_column(col)
        for v in views(ctx, projects):
            r = v.to_json()
            table.add_row(r["id"], r["project"], r["agent"], r["status"], r["activity"],
                          r["branch"] or "-", _short(r["task"] or ""))  # fmt: skip
        return table

    with Live(render(), console=console(), auto_refresh=False) as live:
        try:
            while True:
                time.sleep(interval)
                live.update(render(), refresh=True)
        except KeyboardInterrupt:
            return


def _detail(ctx: Context, v: SessionView) -> dict[str, t.Any]:
    from ao.session import ports

    data = v.to_json()
    ev = v.activity.evidence
    data["evidence"] = {"source": ev.source, "detail": ev.detail, "age": ev.age}
    data["pane"] = v.session.get("pane_id") or None
    data["prompt_delivery"] = v.session.get("prompt_delivery") or None
    data["ports"] = ports.describe(ctx, v.session.get("port_block") or None)
    return data


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
    from ao.cli.output import emit_json, info, out
    from ao.sdk.errors import UsageError
    from ao.session.ops import send as send_message

    sources = [text is not None, file is not None]
    if sum(sources) != 1:
        raise UsageError("give the message as TEXT, '-' (stdin) or --file F — exactly one")
    if file is not None:
        from ao.session.inputs import read_text_file

        message = read_text_file(file)
    elif text == "-":
        message = _stdin("stdin")
    else:
        from ao.session.inputs import check_text_size

        message = check_text_size(text)
    if not message.strip():
        raise UsageError("the message is empty")
    ctx = _ctx()
    proj, session = _find(ctx, session_id, project)
    result = send_message(ctx, proj, session, message, wait=wait, interrupt=interrupt)
    if json_out:
        emit_json({"session": session_id, "status": result.status, "detail": result.detail})
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
    from ao.cli.output import out
    from ao.session.ops import follow as follow_output
    from ao.session.ops import logs as read_logs

    ctx = _ctx()
    from ao.store.state import validate_session_id

    validate_session_id(session_id)
    if follow:
        _, session = _find(ctx, session_id, project)
        for line in follow_output(ctx, session):
            out(line)
            sys.stdout.flush()
        return
    projects = [ctx.project(project)] if project else ctx.projects()
    holders = [
        p for p in projects
        if p.store.exists(session_id) or p.store.archived(session_id) is not None
    ]  # fmt: skip
    if len(holders) > 1:
        from ao.sdk.errors import UsageError

        raise UsageError(
            f"session {session_id!r} exists in several projects "
            f"({', '.join(p.id for p in holders)})",
            hint=f"pass --project, e.g. --project {holders[0].id}",
        )
    if not holders:
        ctx.find_session(session_id, project)  # raises NotFoundError with a suggestion
    out(read_logs(ctx, holders[0], session_id, lines))


def attach(
    session_id: str = typer.Argument(..., metavar="SESSION"),
    project: str = ProjectOpt,
    print_only: bool = typer.Option(
        False, "--print", help="Print the command instead of running it."
    ),
) -> None:
    """Attach to the session's tmux session (switch-client when already inside tmux)."""
    import os
    import shlex

    from ao.cli.output import out
    from ao.session.context import inside_tmux
    from ao.session.ops import attach_argv

    ctx = _ctx()
    _, session = _find(ctx, session_id, project)
    argv = attach_argv(ctx, session, inside=inside_tmux())
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
    from ao.cli.output import emit_json, out
    from ao.sdk.errors import UsageError
    from ao.session.stop_restore import stop as stop_session

    ctx = _ctx()
    if all_:
        if session_id or not project:
            raise UsageError("use either SESSION or --project P --all")
        proj = ctx.project(project)
        targets = [(proj, s) for s in proj.store.list()]
    elif session_id:
        targets = [_find(ctx, session_id, project)]
    else:
        raise UsageError("name a SESSION, or use --project P --all")
    results = [stop_session(ctx, proj, s, force=force) for proj, s in targets]
    if json_out:
        emit_json([
            {"id": r.session_id, "worktree": r.worktree, "worktree_removed": r.worktree_removed,
             "snapshot": r.snapshot, "kept_reason": r.kept_reason, "archived": r.archived,
             "saved": r.saved}
            for r in results
        ])  # fmt: skip
        return
    for r in results:
        if r.kept_reason:
            out(f"stopped {r.session_id}; kept its worktree ({r.kept_reason}): {r.worktree}")
            out(f"  resume with `ao restore {r.session_id}`")
        elif r.snapshot:
            out(
                f"stopped {r.session_id}; uncommitted work saved as commit "
                f"{r.snapshot[:12]} on its branch"
            )
        else:
            out(f"stopped {r.session_id}")
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
    from ao.cli.output import emit_json, out
    from ao.session.ops import view
    from ao.session.stop_restore import restore as restore_session
    from ao.store.state import validate_session_id

    validate_session_id(session_id)
    ctx = _ctx()
    candidates = [ctx.project(project)] if project else ctx.projects()
    found = [p for p in candidates if p.store.exists(session_id) or p.store.archived(session_id)]
    if not found:
        from ao.sdk.errors import NotFoundError

        raise NotFoundError(
            f"no session {session_id!r}, live or archived", hint="see `ao list --all`"
        )
    if len(found) > 1:
        from ao.sdk.errors import UsageError

        raise UsageError(
            f"session {session_id!r} exists in several projects ({', '.join(p.id for p in found)})",
            hint=f"pass --project, e.g. --project {found[0].id}",
        )
    session = restore_session(ctx, found[0], session_id, resend=resend)
    if json_out:
        emit_json(view(ctx, session).to_json())
    else:
        out(f"restored {session_id} in {session.get('worktree')}")


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
