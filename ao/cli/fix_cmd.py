"""``ao fix``: fix a red suite with parallel agents; ``ao fix status`` follows it."""

from __future__ import annotations

import typing as t

import typer

from ao.cli.common import orchestrator

if t.TYPE_CHECKING:
    from ao.api import FixReport

ProjectOpt = typer.Option(None, "--project", "-p", help="Project id (default: the one you are in).")
JsonOpt = typer.Option(False, "--json", help='Print JSON: {"v": 1, "data": ...}.')

fix_app = typer.Typer(
    help="Fix the project's failing checks: one agent per failing test (lint: per file), "
    "each fix verified, merged back one at a time.",
    invoke_without_command=True,
)


@fix_app.callback()
def fix(
    ctx: typer.Context,
    project: str = ProjectOpt,
    check: list[str] = typer.Option(
        None, "--check", "-c", help="Only this check (repeatable; default: every check)."
    ),
    jobs: int = typer.Option(4, "--jobs", "-j", min=1, help="Agents at once."),
    agent: str = typer.Option(None, "--agent", "-a", help="Agent plugin (default: config)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Run the checks, print the plan, stop."),
    max_items: int = typer.Option(None, "--max-items", min=1, help="Fix at most this many items."),
    json_out: bool = JsonOpt,
) -> None:
    """Run the project's checks on its base branch (in a scratch worktree), plan the work,
    start agents; `ao watch` verifies each fix and merges it (see `ao fix status`)."""
    if ctx.invoked_subcommand is not None:
        return
    from ao.cli.output import info, spinner  # lazy: keeps `ao --help` fast

    api = orchestrator()
    what = "running the checks" if dry_run else "running the checks and starting agents"
    with spinner(what):
        report = api.fix(project=project, checks=check or (), jobs=jobs, agent=agent,
                         dry_run=dry_run, max_items=max_items)  # fmt: skip
    _render(report, json_out)
    if not json_out and not dry_run and report.items and not report.finished:
        info("`ao watch` (or `ao start`) verifies and merges the fixes; follow with "
             "`ao fix status`")  # fmt: skip


@fix_app.command("status")
def status(project: str = ProjectOpt, json_out: bool = JsonOpt) -> None:
    """Each item of the project's fix run: state, session, attempts, time."""
    from ao.cli.output import emit_json, out  # lazy: keeps `ao --help` fast

    report = orchestrator().fix_status(project=project)
    if report is None:
        if json_out:
            emit_json(None)
        else:
            out("no fix run (start one with `ao fix`)")
        return
    _render(report, json_out)


def _render(report: FixReport, json_out: bool) -> None:
    from ao.cli.output import emit_json, out, table  # lazy: keeps `ao --help` fast

    if json_out:
        emit_json(report.to_json())
        return
    head = "plan" if report.dry_run else ("finished" if report.finished else "under way")
    out(f"ao fix {report.project}: {head} — base {report.base} ({report.base_sha[:10]}), "
        f"checks {', '.join(report.checks)}, {report.jobs} at once")  # fmt: skip
    if not report.items:
        out("every check passes: nothing to fix")
        return
    rows = [
        [item.id, item.state, item.session or "-", str(item.attempts), f"{item.seconds:.0f}s",
         " ".join(item.reproduce) if report.dry_run else (item.reason or "")]
        for item in report.items
    ]  # fmt: skip
    last = "REPRODUCE" if report.dry_run else "NOTE"
    table(["ITEM", "STATE", "SESSION", "SENT BACK", "TIME", last], rows)


def register(app: typer.Typer) -> None:
    """Add ``ao fix`` to ``app``."""
    app.add_typer(fix_app, name="fix")
