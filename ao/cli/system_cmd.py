"""Housekeeping commands: gc, plugins, doctor."""

from __future__ import annotations

import typer

from ao.cli.common import orchestrator

JsonOpt = typer.Option(False, "--json", help='Print JSON: {"v": 1, "data": ...}.')


def gc(
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show what would be done; change nothing."
    ),
    project: str = typer.Option(None, "--project", "-p", help="Only this project."),
    json_out: bool = JsonOpt,
) -> None:
    """Clean up after crashes: half-done spawns, orphan tmux sessions and worktrees, stale locks."""
    # lazy: loaded by this command only, so `ao --help` stays fast
    from ao.cli.output import emit_json, out

    actions = orchestrator().gc(project=project, dry_run=dry_run)
    if json_out:
        emit_json([a.to_json() for a in actions])
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
    # lazy: loaded by this command only, so `ao --help` stays fast
    from ao.cli.output import emit_json, table

    rows = orchestrator().plugins()
    if json_out:
        emit_json([r.to_json() for r in rows])
        return
    table(
        ["SLOT", "NAME", "PACKAGE", "TARGET"], [[r.slot, r.name, r.package, r.target] for r in rows]
    )


def doctor(
    agents: bool = typer.Option(
        False,
        "--agents",
        help="Self-test each installed agent CLI: launch it in a scratch tmux pane against "
        "a scripted local model and check that ready, working and needs_input are detected.",
    ),
    agent: list[str] = typer.Option(
        None, "--agent", "-a", help="Only this agent (repeatable; implies --agents)."
    ),
    timeout: float = typer.Option(
        60.0, "--timeout", help="Seconds each agent self-test step may take."
    ),
    json_out: bool = JsonOpt,
) -> None:
    """Check that ao can work here: tools, versions, config, state directory, plugins.

    With --agents, run each installed agent CLI (one after another) in a private tmux
    server against a scripted model on 127.0.0.1 and check, through `ao new`, `ao status`
    and `ao send`, that its state is detected: ready, working, ready again, needs_input.
    """
    # lazy: loaded by this command only, so `ao --help` stays fast
    from ao.cli.output import emit_json, out

    if agents or agent:
        _doctor_agents(agent or [], timeout, json_out)
        return
    checks = orchestrator().doctor()
    if json_out:
        emit_json([c._asdict() for c in checks])
    else:
        for c in checks:
            out(f"{c.level:<5} {c.name:<22} {c.detail}")
    if any(c.level == "FAIL" for c in checks):
        raise typer.Exit(1)


def _doctor_agents(names: list[str], timeout: float, json_out: bool) -> None:
    # lazy: loaded by this command only, so `ao --help` stays fast
    import contextlib
    import sys

    from ao.cli.output import console, emit_json, out

    with contextlib.ExitStack() as stack:
        progress = None
        if sys.stderr.isatty():
            status = stack.enter_context(console(stderr=True).status("ao doctor --agents"))

            def progress(message: str) -> None:
                status.update(f"checking {message}")

        results = orchestrator().check_agents(names, timeout=timeout, progress=progress)
    if json_out:
        emit_json([r.to_json() for r in results])
    else:
        for r in results:
            verdict = {"ok": "PASS", "failed": "FAIL", "skipped": "SKIP"}[r.verdict]
            version = f" {r.version}" if r.version else ""
            timing = f" ({r.seconds:.1f}s)" if r.steps else ""
            out(f"{verdict:<5} {r.agent}{version}{timing}: {r.detail}")
            for step in r.steps:
                out(f"      {step.status:<7} {step.name:<12} {step.seconds:5.1f}s  {step.detail}")
    if any(r.verdict == "failed" for r in results):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the housekeeping commands to ``app``."""
    app.command("gc")(gc)
    app.command("plugins")(plugins)
    app.command("doctor")(doctor)
