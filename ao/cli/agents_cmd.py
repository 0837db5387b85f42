"""Agent commands: agents (what is installed and logged in), why (the evidence behind a state)."""

from __future__ import annotations

from pathlib import Path

import typer

JsonOpt = typer.Option(False, "--json", help='Print JSON: {"v": 1, "data": ...}.')


def agents(json_out: bool = JsonOpt) -> None:
    """Each agent adapter: installed version, auth state, and the one `auto` picks."""
    from ao.cli.output import emit_json, table
    from ao.config import find_config_path, load_config
    from ao.session.agents import choose, inventory
    from ao.session.context import Context

    path = find_config_path()
    if path is not None:
        ctx = Context(load_config(path, cached=True))
    else:  # no config yet: built-in defaults are enough to probe agents
        from ao.config import LoadedConfig
        from ao.config.models import AoConfig

        ctx = Context(LoadedConfig(path=Path.cwd(), model=AoConfig(), raw={}))
    rows = inventory(ctx)
    chosen = choose(rows, ctx.config.defaults.agent_strategy)
    if json_out:
        emit_json([
            {"name": r.name, "installed": r.installed, "binary": r.binary, "path": r.path,
             "version": r.version, "auth": r.auth, "auth_detail": r.auth_detail,
             "default": r.name == chosen, "error": r.error}
            for r in rows
        ])  # fmt: skip
        return
    table(
        ["AGENT", "INSTALLED", "VERSION", "AUTH", "DEFAULT"],
        [
            [r.name, "yes" if r.installed else "no", r.version or "-",
             r.auth if not r.auth_detail else f"{r.auth} ({r.auth_detail})",
             "*" if r.name == chosen else ""]
            for r in rows
        ],
    )  # fmt: skip


def why(
    session_id: str = typer.Argument(..., metavar="SESSION"),
    project: str = typer.Option(None, "--project", "-p", help="Project id."),
    json_out: bool = JsonOpt,
) -> None:
    """The state of SESSION's agent and the evidence that decided it."""
    from ao.cli.output import emit_json, out
    from ao.session.context import Context
    from ao.session.ops import view
    from ao.store.state import validate_session_id

    validate_session_id(session_id)
    ctx = Context.load()
    _, session = ctx.find_session(session_id, project)
    v = view(ctx, session)
    ev = v.activity.evidence
    data = {
        "id": session.id,
        "activity": v.activity.state,
        "status": v.status,
        "evidence": {"source": ev.source, "detail": ev.detail, "age": ev.age},
        "status_reason": session.get("status_reason") or None,
        "status_since": session.get("status_since") or session.get("created_at"),
    }
    if json_out:
        emit_json(data)
        return
    age = f", {ev.age:.0f}s old" if ev.age is not None else ""
    out(f"{session.id} is {v.activity.state} (status {v.status})")
    out(f"  because: {ev.detail}")
    out(f"  source:  {ev.source}{age}")
    if data["status_reason"]:
        out(f"  status since {data['status_since']}: {data['status_reason']}")


def register(app: typer.Typer) -> None:
    """Add the agent commands to ``app``."""
    app.command("agents")(agents)
    app.command("why")(why)
