"""Agent commands: agents (what is installed and logged in), why (the evidence behind a state)."""

from __future__ import annotations

import typer

from ao.cli.common import orchestrator

JsonOpt = typer.Option(False, "--json", help='Print JSON: {"v": 1, "data": ...}.')


def agents(json_out: bool = JsonOpt) -> None:
    """Each agent adapter: installed version, auth state, and the one `auto` picks."""
    # lazy: loaded by this command only, so `ao --help` stays fast
    from ao.cli.output import emit_json, table

    rows = orchestrator().agents()
    if json_out:
        emit_json([r.to_json() for r in rows])
        return
    table(
        ["AGENT", "INSTALLED", "VERSION", "AUTH", "DEFAULT"],
        [
            [r.name, "yes" if r.installed else "no", r.version or "-",
             r.auth if not r.auth_detail else f"{r.auth} ({r.auth_detail})",
             "*" if r.default else ""]
            for r in rows
        ],
    )  # fmt: skip


def why(
    session_id: str = typer.Argument(..., metavar="SESSION"),
    project: str = typer.Option(None, "--project", "-p", help="Project id."),
    json_out: bool = JsonOpt,
) -> None:
    """The state of SESSION's agent and the evidence that decided it."""
    # lazy: loaded by this command only, so `ao --help` stays fast
    from ao.cli.output import emit_json, out

    detail = orchestrator().status(session_id, project=project, details=False)
    data = detail.why_json()
    if json_out:
        emit_json(data)
        return
    ev = detail.evidence
    age = f", {ev.age:.0f}s old" if ev.age is not None else ""
    out(f"{detail.id} is {detail.activity} (status {detail.status})")
    out(f"  because: {ev.detail}")
    out(f"  source:  {ev.source}{age}")
    if data["status_reason"]:
        out(f"  status since {data['status_since']}: {data['status_reason']}")


def register(app: typer.Typer) -> None:
    """Add the agent commands to ``app``."""
    app.command("agents")(agents)
    app.command("why")(why)
