"""``ao notify test``: send a test notification and show what each notifier did."""

from __future__ import annotations

import typing as t

import typer


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
    # lazy: loaded by this command only, so `ao --help` stays fast
    from ao.cli.common import orchestrator
    from ao.cli.output import emit_json, out

    results = orchestrator().notify_test(name, priority=priority, timeout=timeout)
    if json_out:
        emit_json([r.to_json() for r in results])
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
