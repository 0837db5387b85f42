"""Project commands: start, add-project, remove-project."""

from __future__ import annotations

from pathlib import Path

import typer


def start(
    target: str = typer.Argument(
        None, metavar="[PATH|URL]", help="Repo path or URL (default: here)."
    ),
    name: str = typer.Option(None, "--name", help="Project id (default: the directory name)."),
    no_watch: bool = typer.Option(False, "--no-watch", help="Do not start the watcher."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Set up ao for a repo (clone a URL first) and run the watcher in tmux. Safe to re-run."""
    from ao.cli.output import emit_json, out
    from ao.session.projects import start as start_project

    result = start_project(target, Path.cwd(), name=name)
    watcher = ("skipped", "--no-watch") if no_watch else _watcher(result.config_path)
    if json_out:
        emit_json({
            "config": str(result.config_path), "project": result.project_id,
            "created_config": result.created_config, "added_project": result.added_project,
            "cloned": result.cloned, "agent": result.agent,
            "watcher": {"state": watcher[0], "detail": watcher[1]},
        })  # fmt: skip
        return
    if result.created_config:
        out(f"wrote {result.config_path} (kept out of git via .git/info/exclude)")
    elif result.added_project:
        out(f"added project {result.project_id} to {result.config_path}")
    else:
        out(f"project {result.project_id} is already set up in {result.config_path}")
    out(f"project {result.project_id}: agent {result.agent}")
    out(f"watcher: {watcher[0]} ({watcher[1]})")
    out('next: ao new "describe the task"   then: ao status')


def _watcher(config_path: Path) -> tuple[str, str]:
    from ao.config import load_config
    from ao.lifecycle.watch import ensure_watcher
    from ao.sdk.errors import AoError
    from ao.session.context import Context

    try:
        return ensure_watcher(Context(load_config(config_path, cached=True)))
    except AoError as exc:  # no tmux here: the config is still useful
        return "not started", str(exc)


def add_project(
    target: str = typer.Argument(..., metavar="PATH|URL"),
    name: str = typer.Option(None, "--name", help="Project id (default: the directory name)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Add a repository to the current config (clone a URL first)."""
    from ao.cli.output import emit_json, out
    from ao.config import find_config_path
    from ao.sdk.errors import ConfigError
    from ao.session.projects import start as start_project

    config_path = find_config_path()
    if config_path is None:
        raise ConfigError("no config to add to", hint="run `ao start` in a repository first")
    result = start_project(target, Path.cwd(), name=name, config_path=config_path)
    if json_out:
        emit_json({
            "config": str(result.config_path), "project": result.project_id,
            "added_project": result.added_project, "cloned": result.cloned,
        })  # fmt: skip
        return
    verb = "added" if result.added_project else "already present:"
    out(f"{verb} project {result.project_id} in {result.config_path}")


def remove_project(
    name: str = typer.Argument(..., metavar="NAME"),
    force: bool = typer.Option(False, "--force", help="Remove even with live sessions."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Remove a project from the config. Its sessions' state and worktrees are not deleted."""
    from ao.cli.output import emit_json, out
    from ao.session.context import Context
    from ao.session.projects import remove_project as remove

    ctx = Context.load()
    proj = ctx.project(name)
    live = len(proj.store.list())
    remove(ctx.loaded.path, name, live_sessions=live, force=force)
    if json_out:
        emit_json({
            "config": str(ctx.loaded.path), "project": name, "state": str(proj.paths.root),
            "live_sessions": live,
        })  # fmt: skip
        return
    out(f"removed project {name} from {ctx.loaded.path} (state kept in {proj.paths.root})")


def register(app: typer.Typer) -> None:
    """Add the project commands to ``app``."""
    app.command("start")(start)
    app.command("add-project")(add_project)
    app.command("remove-project")(remove_project)
