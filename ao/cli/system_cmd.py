"""Housekeeping commands: gc, plugins, doctor."""

from __future__ import annotations

import typer

JsonOpt = typer.Option(False, "--json", help='Print JSON: {"v": 1, "data": ...}.')


def gc(
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show what would be done; change nothing."
    ),
    project: str = typer.Option(None, "--project", "-p", help="Only this project."),
    json_out: bool = JsonOpt,
) -> None:
    """Clean up after crashes: half-done spawns, orphan tmux sessions and worktrees, stale locks."""
    from ao.cli.output import emit_json, out
    from ao.context import Context
    from ao.gc import collect

    ctx = Context.load()
    projects = [ctx.project(project)] if project else ctx.projects()
    actions = collect(ctx, projects, dry_run=dry_run)
    if json_out:
        emit_json(
            [
                {"kind": a.kind, "target": a.target, "detail": a.detail, "done": a.done}
                for a in actions
            ]
        )
        return
    if not actions:
        out("nothing to clean up")
    for a in actions:
        verb = (
            "done" if a.done else ("would fix" if dry_run and a.kind != "kept-worktree" else "kept")
        )
        out(f"{verb:<9} {a.kind:<16} {a.target}: {a.detail}")


def plugins(json_out: bool = JsonOpt) -> None:
    """List the plugins installed for each slot (built-ins and third-party alike)."""
    from ao.cli.output import emit_json, table
    from ao.registry import describe

    rows = describe()
    if json_out:
        emit_json(rows)
        return
    table(
        ["SLOT", "NAME", "PACKAGE", "TARGET"],
        [[r["slot"], r["name"], r["package"], r["target"]] for r in rows],
    )


def doctor(json_out: bool = JsonOpt) -> None:
    """Check that ao can work here: tools, versions, config, state directory, plugins."""
    from ao.cli.output import emit_json, out
    from ao.doctor import run_checks

    checks = run_checks()
    if json_out:
        emit_json([c._asdict() for c in checks])
    else:
        for c in checks:
            out(f"{c.level:<5} {c.name:<22} {c.detail}")
    if any(c.level == "FAIL" for c in checks):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the housekeeping commands to ``app``."""
    app.command("gc")(gc)
    app.command("plugins")(plugins)
    app.command("doctor")(doctor)
