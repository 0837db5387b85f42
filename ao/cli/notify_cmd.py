"""``ao notify test``: send a test notification and show what each notifier did."""

from __future__ import annotations

import typing as t

import typer

PRIORITIES = ("urgent", "action", "warning", "info")


def _test(
    name: t.Annotated[
        str | None,
        typer.Argument(
            help="A key of 'notifiers' or a notifier plugin name "
            "(default: every notifier routed for --priority).",
            metavar="NAME",
            show_default=False,
        ),
    ] = None,
    priority: t.Annotated[
        str,
        typer.Option(
            "--priority", "-P", help="urgent, action, warning or info.", metavar="PRIORITY"
        ),
    ] = "info",
    timeout: t.Annotated[
        float,
        typer.Option(
            "--timeout", help="Seconds to wait for all notifiers.", min=0.1, metavar="SECONDS"
        ),
    ] = 10.0,
    json_out: t.Annotated[
        bool, typer.Option("--json", help='Print JSON: {"v": 1, "data": [...]}.')
    ] = False,
) -> None:
    """Send a test notification through one notifier, or through routing; exit 1 if any failed."""
    from ao.cli.output import emit_json, out
    from ao.config import load_config
    from ao.notify import dispatch
    from ao.sdk.contracts import Notification
    from ao.sdk.errors import ConfigError, UsageError

    if priority not in PRIORITIES:
        raise UsageError(
            f"unknown priority {priority!r}", hint=f"use one of: {', '.join(PRIORITIES)}"
        )
    config = load_config(cached=True).model
    via = f"the {name!r} notifier" if name else f"the notifiers routed for {priority!r}"
    note = Notification(
        title="ao test notification",
        message=f"If you can read this, {via} works.",
        priority=t.cast("t.Literal['urgent', 'action', 'warning', 'info']", priority),
        data={"test": True},
    )
    results = dispatch(config, note, timeout=timeout, names=[name] if name else None)
    if not results:
        raise ConfigError(
            f"no notifiers are routed for priority {priority!r}",
            hint="set notificationRouting or defaults.notifiers, or name one: ao notify test NAME",
        )
    if json_out:
        emit_json(
            [
                {
                    "name": r.name,
                    "plugin": r.plugin,
                    "ok": r.ok,
                    "error": r.error,
                    "seconds": round(r.seconds, 3),
                }
                for r in results
            ]
        )
    else:
        for r in results:
            status = "ok" if r.ok else "FAIL"
            line = f"{status:<4}  {r.name} ({r.plugin})  {r.seconds:.2f}s"
            out(line + (f"  {r.error}" if r.error else ""))
    if not all(r.ok for r in results):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``ao notify ...`` to ``app``."""
    notify_app = typer.Typer(
        name="notify",
        help="Check the notifiers configured in agent-orchestrator.yaml.",
        rich_markup_mode=None,
        no_args_is_help=True,
    )
    notify_app.command("test")(_test)
    app.add_typer(notify_app, name="notify")
