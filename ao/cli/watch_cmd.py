"""Lifecycle commands: watch, events, reactions simulate (through ``ao.api``)."""

from __future__ import annotations

import typing as t

import typer

from ao.cli.common import orchestrator

if t.TYPE_CHECKING:
    import threading

    from ao.api import PassReport

JsonOpt = typer.Option(False, "--json", help='Print JSON: {"v": 1, "data": ...}.')


def _cancel_on_signals() -> threading.Event:
    """An event that SIGTERM and ^C set: the pass under way finishes, then the command ends."""
    # lazy: loaded by this command only, so `ao --help` stays fast
    import signal
    import threading

    cancel = threading.Event()

    def stop(signum: int, _frame: object) -> None:
        cancel.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return cancel


def watch(
    interval: float = typer.Option(
        30.0, "--interval", "-i", min=0.5, help="Seconds between ticks."
    ),
    project: str = typer.Option(None, "--project", "-p", help="Only this project."),
    once: bool = typer.Option(False, "--once", help="One pass, then exit (for cron)."),
    timeout: float = typer.Option(
        120.0,
        "--timeout",
        min=0.0,
        help="With --once, while a watcher runs: seconds to wait for the pass it runs for "
        "you (0: skip the pass instead).",
    ),
    json_out: bool = JsonOpt,
) -> None:
    """Keep sessions moving: detect state, react to CI/reviews/questions, notify humans."""
    # lazy: loaded by this command only, so `ao --help` stays fast
    import json

    from ao.cli.output import emit_json, info, out
    from ao.sdk.errors import ConflictError

    api = orchestrator()
    if once:
        outcome = api.run_pass(project=project, timeout=timeout, cancel=_cancel_on_signals())
        if json_out:
            emit_json(outcome.to_json())
        elif outcome.status == "ran":
            if outcome.report is not None:
                _print(outcome.report, out)
            by = "the running watcher" if outcome.ran_by == "watcher" else None
            out(f"ran a pass in {by} (pid {outcome.watcher_pid})" if by else "ran a pass")
        if outcome.status == "skipped":
            if not json_out:
                info(f"ao: {outcome.detail}; skipping this one (--timeout 0)")
        elif outcome.status == "interrupted":
            raise typer.Exit(130)
        elif outcome.status == "timeout":
            raise ConflictError(
                outcome.detail,
                hint="see `ao events` for what it is doing, or raise --timeout "
                "(--timeout 0 skips the pass instead of waiting)",
            )
        return

    def on_pass(report: PassReport) -> None:
        if json_out:
            out(json.dumps({"v": 1, "data": report.to_json()}))
        else:
            _print(report, out)

    api.watch(
        on_pass, interval=interval, project=project, cancel=_cancel_on_signals(),
        on_start=lambda: info(f"ao: watching every {interval:g}s (Ctrl-C to stop)"),
    )  # fmt: skip


def _print(report: PassReport, out: t.Callable[[str], None]) -> None:
    """One line per change of a pass."""
    for tr in report.transitions:
        out(f"{tr.session}: {tr.before} → {tr.after} ({tr.rule})")
    for a in report.actions:
        state = "ok" if a.ok else "FAILED"
        out(f"{a.session}: {a.reaction} {a.kind} {state}: {a.detail}")
    for n in report.notifications:
        state = "ok" if n.ok else "FAILED"
        out(f"{n.session or '-'}: {n.reaction} notification {state}: {n.detail}")
    for e in report.errors:
        out(f"{e.session or '-'}: error (the pass went on): {e.error}")
    if not report.changed:
        out(f"{report.sessions} session(s), no changes ({report.seconds * 1000:.0f} ms)")


def events_(
    session: str = typer.Option(None, "--session", "-s", help="Only this session."),
    project: str = typer.Option(None, "--project", "-p", help="Only this project."),
    lines: int = typer.Option(50, "-n", "--lines", min=1, help="How many recent events."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new events."),
    json_out: bool = typer.Option(
        False, "--json", help="One JSON event per line (the v1 log format)."
    ),
) -> None:
    """Show the event log: status changes, reactions, notifications, messages.

    Lines of the log that cannot be read are skipped. A ``--session`` that is neither
    live, archived nor in the log is a NotFoundError (exit 4).
    """
    # lazy: loaded by this command only, so `ao --help` stays fast
    import json
    import sys
    import time

    from ao.cli.output import out

    api = orchestrator()
    page = api.events(project=project, session=session, limit=lines)
    while True:
        for event in page.events:
            if json_out:
                out(json.dumps(event.to_json(), ensure_ascii=False))
            else:
                who = event.session or event.project or "-"
                message = " ".join(event.message.split())
                out(f"{event.ts}  {event.priority:<7} {who:<10} {event.type:<18} {message}")
            sys.stdout.flush()
        if not follow:
            return
        time.sleep(0.5)
        page = api.events(page.cursor, project=project, session=session)


reactions_app = typer.Typer(help="Inspect reactions.", no_args_is_help=True)


@reactions_app.command("simulate")
def simulate(
    session_id: str = typer.Argument(..., metavar="SESSION"),
    project: str = typer.Option(None, "--project", "-p"),
    json_out: bool = JsonOpt,
) -> None:
    """What would fire for SESSION now, and why — without doing it."""
    # lazy: loaded by this command only, so `ao --help` stays fast
    from ao.cli.output import emit_json, out

    report = orchestrator().simulate(session_id, project=project)
    if json_out:
        emit_json(report.to_json())
        return
    for tr in report.transitions:
        out(f"status: {tr.before} → {tr.after} ({tr.rule})")
    for a in report.actions:
        out(f"would {a.kind} ({a.reaction}, {a.priority}): {a.why}")
        out("  " + (a.message or "").replace("\n", "\n  "))
    if not report.transitions and not report.actions:
        out("nothing would fire now")


def register(app: typer.Typer) -> None:
    """Add the lifecycle commands to ``app``."""
    app.command("watch")(watch)
    app.command("events")(events_)
    app.add_typer(reactions_app, name="reactions")
