"""Project commands: start, add-project, remove-project (through ``ao.api``)."""

from __future__ import annotations

import typer

from ao.cli.common import orchestrator


def start(
    target: str = typer.Argument(
        None, metavar="[PATH|URL]", help="Repo path or URL (default: here)."
    ),
    name: str = typer.Option(None, "--name", help="Project id (default: the directory name)."),
    no_watch: bool = typer.Option(
        False, "--no-watch", help="Do not start the watcher (nor the dashboard)."
    ),
    no_dashboard: bool = typer.Option(
        False, "--no-dashboard", help="Do not start the dashboard beside the watcher."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Set up ao for a repo (clone a URL first) and run the watcher in tmux, and the
    dashboard beside it. Safe to re-run."""
    # lazy: loaded by this command only, so `ao --help` stays fast
    from ao.cli.output import emit_json, out

    result = orchestrator().start_project(
        target, name=name, watch=not no_watch, dashboard=not no_dashboard
    )
    if json_out:
        emit_json(result.to_json())
        return
    if result.created_config:
        out(f"wrote {result.config} (kept out of git via .git/info/exclude)")
    elif result.added_project:
        out(f"added project {result.project} to {result.config}")
    else:
        out(f"project {result.project} is already set up in {result.config}")
    out(f"project {result.project}: agent {result.agent}")
    out(f"watcher: {result.watcher} ({result.watcher_detail})")
    if result.dashboard_url:
        out(f"dashboard: {result.dashboard} at {result.dashboard_url} (`ao dashboard --open` "
            "opens it, logged in)")  # fmt: skip
    else:
        out(f"dashboard: {result.dashboard} ({result.dashboard_detail})")
    out('next: ao new "describe the task"   then: ao status')


def add_project(
    target: str = typer.Argument(..., metavar="PATH|URL"),
    name: str = typer.Option(None, "--name", help="Project id (default: the directory name)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Add a repository to the current config (clone a URL first)."""
    # lazy: loaded by this command only, so `ao --help` stays fast
    from ao.cli.output import emit_json, out

    result = orchestrator().add_project(target, name=name)
    if json_out:
        emit_json(result.to_json())
        return
    verb = "added" if result.added_project else "already present:"
    out(f"{verb} project {result.project} in {result.config}")


def remove_project(
    name: str = typer.Argument(..., metavar="NAME"),
    force: bool = typer.Option(False, "--force", help="Remove even with live sessions."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Remove a project from the config. Its sessions' state and worktrees are not deleted."""
    # lazy: loaded by this command only, so `ao --help` stays fast
    from ao.cli.output import emit_json, out

    result = orchestrator().remove_project(name, force=force)
    if json_out:
        emit_json(result.to_json())
        return
    out(f"removed project {name} from {result.config} (state kept in {result.state})")


def register(app: typer.Typer) -> None:
    """Add the project commands to ``app``."""
    app.command("start")(start)
    app.command("add-project")(add_project)
    app.command("remove-project")(remove_project)
