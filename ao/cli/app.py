"""The root Typer app. Command modules register themselves; heavy imports stay inside commands."""

from __future__ import annotations

import os

import typer

from ao import __version__
from ao.cli import (
    agents_cmd,
    completion_cmd,
    config_cmd,
    github_cmd,
    notify_cmd,
    projects_cmd,
    sessions_cmd,
    system_cmd,
    watch_cmd,
)

app = typer.Typer(
    name="ao",
    help="Orchestrate AI coding agents, each in its own tmux session and git worktree.",
    rich_markup_mode=None,
    add_completion=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ao {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    config: str = typer.Option(
        None,
        "--config",
        "-c",
        help="Config file (default: $AO_CONFIG, nearest "
        "agent-orchestrator.yaml, ~/.agent-orchestrator/config.yaml).",
        metavar="PATH",
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Orchestrate AI coding agents, each in its own tmux session and git worktree."""
    if config:
        os.environ["AO_CONFIG"] = os.path.abspath(config)


for module in (
    projects_cmd,
    sessions_cmd,
    agents_cmd,
    github_cmd,
    watch_cmd,
    notify_cmd,
    config_cmd,
    system_cmd,
    completion_cmd,
):
    module.register(app)
