"""The root Typer app. Command modules register themselves; heavy imports stay inside commands.

Building the click tree for every command costs tens of milliseconds, so ``build`` can
make an app with just the module that owns the invoked command (``ao list`` → sessions).
``ao --help`` and anything not in ``OWNERS`` get the whole app.
"""

from __future__ import annotations

import importlib
import os

import typer

from ao import __version__

# registration order is the order `ao --help` lists commands in
MODULES = (
    "projects_cmd",
    "sessions_cmd",
    "task_cmd",
    "fix_cmd",
    "agents_cmd",
    "github_cmd",
    "watch_cmd",
    "web_cmd",
    "mcp_cmd",
    "notify_cmd",
    "config_cmd",
    "system_cmd",
    "completion_cmd",
)
# the module that registers each top-level command (a test keeps this in sync)
OWNERS = {
    **dict.fromkeys(("start", "add-project", "remove-project"), "projects_cmd"),
    **dict.fromkeys(
        ("new", "list", "status", "send", "logs", "attach", "stop", "restore"), "sessions_cmd"
    ),
    **dict.fromkeys(("task", "orchestrate"), "task_cmd"),
    "fix": "fix_cmd",
    **dict.fromkeys(("agents", "why"), "agents_cmd"),
    **dict.fromkeys(("spawn", "finalize", "merge"), "github_cmd"),
    **dict.fromkeys(("watch", "events", "reactions"), "watch_cmd"),
    **dict.fromkeys(("dashboard", "api"), "web_cmd"),
    "mcp": "mcp_cmd",
    "notify": "notify_cmd",
    **dict.fromkeys(("config", "config-help"), "config_cmd"),
    **dict.fromkeys(("gc", "plugins", "doctor"), "system_cmd"),
    **dict.fromkeys(("completion", "_complete"), "completion_cmd"),
}


def build(command: str | None = None) -> typer.Typer:
    """The CLI app: only ``command``'s module when it is known, else every command."""
    app = typer.Typer(
        name="ao",
        help="Orchestrate AI coding agents, each in its own tmux session and git worktree.",
        rich_markup_mode=None,
        add_completion=False,
        no_args_is_help=True,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(root)
    modules = [OWNERS[command]] if command in OWNERS else MODULES
    for name in modules:
        importlib.import_module(f"ao.cli.{name}").register(app)
    return app


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ao {__version__}")
        raise typer.Exit()


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


def __getattr__(name: str) -> typer.Typer:
    """``ao.cli.app.app``: the whole app (completion scripts and docs walk it)."""
    if name == "app":
        return build()
    raise AttributeError(name)
