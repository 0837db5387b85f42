"""Lifecycle commands: watch, events, reactions simulate."""

from __future__ import annotations

import typing as t

import typer

if t.TYPE_CHECKING:
    from ao.lifecycle.watch import TickReport

JsonOpt = typer.Option(False, "--json", help='Print JSON: {"v": 1, "data": ...}.')


def _report_json(report: TickReport) -> dict[str, t.Any]:
    return {
        "sessions": report.sessions,
        "seconds": round(report.seconds, 4),
        "cpu_seconds": round(report.cpu_seconds, 4),
        "transitions": [
            {"session": s, "from": a, "to": b, "rule": r} for s, a, b, r in report.transitions
        ],
        "actions": [
            {"session": s, "reaction": p.reaction, "kind": p.kind, "why": p.why, "ok": ok,
             "detail": detail}
            for s, p, ok, detail in report.actions
        ],
        "notifications": [
            {"session": n.session or None, "reaction": n.reaction, "ok": n.ok, "detail": n.detail}
            for n in report.notifications
        ],
        "errors": [{"session": s or None, "error": e} for s, e in report.errors],
    }  # fmt: skip


def watch(
    interval: float = typer.Option(
        30.0, "--interval", "-i", min=0.5, help="Seconds between ticks."
    ),
    project: str = typer.Option(None, "--project", "-p", help="Only this project."),
    once: bool = typer.Option(False, "--once", help="One pass, then exit (for cron)."),
    json_out: bool = JsonOpt,
) -> None:
    """Keep sessions moving: detect state, react to CI/reviews/questions, notify humans."""
    import json
    import signal

    from ao.cli.output import emit_json, info, out
    from ao.config import find_config_path
    from ao.errors import ConfigError, ConflictError
    from ao.lifecycle.watch import Watcher

    config_path = find_config_path()
    if config_path is None:
        raise ConfigError("no agent-orchestrator.yaml found", hint="run `ao start` in a repository")
    watcher = Watcher(config_path, project)
    if not watcher.acquire():
        if once:
            info("ao: another watch pass is running; skipping this one")
            return
        raise ConflictError(
            "a watcher is already running", hint="`ao watch --once` is safe to run from cron"
        )

    def stop(signum: int, _frame: object) -> None:
        watcher.stopping = True  # finish the current tick, then exit cleanly

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        if once:
            report = watcher.pass_once()
            if json_out:
                emit_json(_report_json(report))
            else:
                _print(report, out)
            return

        def on_tick(report: TickReport) -> None:
            if json_out:
                out(json.dumps({"v": 1, "data": _report_json(report)}))
            else:
                _print(report, out)

        info(f"ao: watching every {interval:g}s (Ctrl-C to stop)")
        watcher.run(interval, on_tick)
    finally:
        watcher.release()


def _print(report: TickReport, out: t.Callable[[str], None]) -> None:
    for s, a, b, rule in report.transitions:
        out(f"{s}: {a} → {b} ({rule})")
    for s, p, ok, detail in report.actions:
        out(f"{s}: {p.reaction} {p.kind} {'ok' if ok else 'FAILED'}: {detail}")
    for n in report.notifications:
        state = "ok" if n.ok else "FAILED"
        out(f"{n.session or '-'}: {n.reaction} notification {state}: {n.detail}")
    for s, error in report.errors:
        out(f"{s or '-'}: error (the pass went on): {error}")
    if not (report.transitions or report.actions or report.notifications or report.errors):
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
    """Show the event log: status changes, reactions, notifications, messages."""
    import json
    import sys
    import time

    from ao.cli.output import out
    from ao.context import Context
    from ao.events import read

    ctx = Context.load()
    projects = [ctx.project(project)] if project else ctx.projects()

    def matching() -> list[dict[str, t.Any]]:
        found = [e for p in projects for e in read(p.paths.events)]
        found = [e for e in found if session in (None, e.get("session"))]
        return sorted(found, key=lambda e: e.get("ts", ""))

    def show(event: dict[str, t.Any]) -> None:
        if json_out:
            out(json.dumps(event, ensure_ascii=False))
        else:
            who = event.get("session") or event.get("project")
            out(
                f"{event['ts']}  {event['priority']:<7} {who:<10} {event['type']:<18} "
                f"{event['message']}"
            )
        sys.stdout.flush()

    seen = matching()
    for event in seen[-lines:]:
        show(event)
    ids = {e["id"] for e in seen}
    while follow:
        time.sleep(0.5)
        for event in matching():
            if event["id"] not in ids:
                ids.add(event["id"])
                show(event)


reactions_app = typer.Typer(help="Inspect reactions.", no_args_is_help=True)


@reactions_app.command("simulate")
def simulate(
    session_id: str = typer.Argument(..., metavar="SESSION"),
    project: str = typer.Option(None, "--project", "-p"),
    json_out: bool = JsonOpt,
) -> None:
    """What would fire for SESSION now, and why — without doing it."""
    from ao.cli.output import emit_json, out
    from ao.context import Context
    from ao.lifecycle.watch import tick
    from ao.state import validate_session_id

    validate_session_id(session_id)
    ctx = Context.load()
    proj, _ = ctx.find_session(session_id, project)
    report = tick(ctx, [proj], dry_run=True, only=session_id)
    if json_out:
        emit_json(_report_json(report))
        return
    for _, a, b, rule in report.transitions:
        out(f"status: {a} → {b} ({rule})")
    for _, p, _ok, _detail in report.actions:
        out(f"would {p.kind} ({p.reaction}, {p.priority}): {p.why}")
        out("  " + p.message.replace("\n", "\n  "))
    if not report.transitions and not report.actions:
        out("nothing would fire now")


def register(app: typer.Typer) -> None:
    """Add the lifecycle commands to ``app``."""
    app.command("watch")(watch)
    app.command("events")(events_)
    app.add_typer(reactions_app, name="reactions")
