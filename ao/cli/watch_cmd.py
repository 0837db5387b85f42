"""Lifecycle commands: watch, events, reactions simulate."""

from __future__ import annotations

import typing as t

import typer

if t.TYPE_CHECKING:
    from ao.lifecycle.report import TickReport

JsonOpt = typer.Option(False, "--json", help='Print JSON: {"v": 1, "data": ...}.')


def _report_json(report: TickReport) -> dict[str, t.Any]:
    from ao.lifecycle.report import report_data

    return report_data(report)


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
    import json
    import signal

    from ao.cli.output import emit_json, info, out
    from ao.config import find_config_path
    from ao.lifecycle.watch import Watcher
    from ao.sdk.errors import ConfigError, ConflictError

    config_path = find_config_path()
    if config_path is None:
        raise ConfigError("no agent-orchestrator.yaml found", hint="run `ao start` in a repository")
    watcher = Watcher(config_path, project)

    def stop(signum: int, _frame: object) -> None:
        watcher.stopping = True  # finish the current tick, then exit cleanly

    if once:
        from ao.lifecycle.passes import run_once

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        outcome = run_once(watcher, timeout)
        data = {**(outcome.data or {}), "status": outcome.status, "ran_by": outcome.ran_by,
                "watcher_pid": outcome.watcher_pid}  # fmt: skip
        if outcome.status != "ran":
            data["detail"] = outcome.detail
        if json_out:
            emit_json(data)
        elif outcome.status == "ran":
            _print(data, out)
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
    if not watcher.acquire():
        raise ConflictError(
            "a watcher is already running", hint="`ao watch --once` is safe to run from cron"
        )
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:

        def on_tick(report: TickReport) -> None:
            if json_out:
                out(json.dumps({"v": 1, "data": _report_json(report)}))
            else:
                _print(_report_json(report), out)

        info(f"ao: watching every {interval:g}s (Ctrl-C to stop)")
        watcher.run(interval, on_tick)
    finally:
        watcher.release()


def _print(data: dict[str, t.Any], out: t.Callable[[str], None]) -> None:
    """One line per change of a pass, from its ``--json`` data."""
    for tr in data["transitions"]:
        out(f"{tr['session']}: {tr['from']} → {tr['to']} ({tr['rule']})")
    for a in data["actions"]:
        state = "ok" if a["ok"] else "FAILED"
        out(f"{a['session']}: {a['reaction']} {a['kind']} {state}: {a['detail']}")
    for n in data["notifications"]:
        state = "ok" if n["ok"] else "FAILED"
        out(f"{n['session'] or '-'}: {n['reaction']} notification {state}: {n['detail']}")
    for e in data["errors"]:
        out(f"{e['session'] or '-'}: error (the pass went on): {e['error']}")
    if not (data["transitions"] or data["actions"] or data["notifications"] or data["errors"]):
        out(f"{data['sessions']} session(s), no changes ({data['seconds'] * 1000:.0f} ms)")


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
    import json
    import sys
    import time

    from ao.cli.output import out
    from ao.sdk.redact import redact_data
    from ao.session.context import Context
    from ao.store.events import read

    ctx = Context.load()
    projects = [ctx.project(project)] if project else ctx.projects()

    def matching() -> list[dict[str, t.Any]]:
        found = [e for p in projects for e in read(p.paths.events)]
        found = [e for e in found if session in (None, e["session"])]
        return sorted(found, key=lambda e: e["ts"])

    def show(event: dict[str, t.Any]) -> None:
        event = redact_data(event)  # logs written before ao redacted events
        if json_out:
            out(json.dumps(event, ensure_ascii=False))
        else:
            who = event["session"] or event["project"] or "-"
            message = " ".join(event["message"].split())
            out(f"{event['ts']}  {event['priority']:<7} {who:<10} {event['type']:<18} {message}")
        sys.stdout.flush()

    seen = matching()
    if session is not None and not seen:
        known = [p for p in projects if p.store.exists(session) or p.store.archived(session)]
        if not known:
            import difflib

            from ao.sdk.errors import NotFoundError

            live = [s.id for p in projects for s in p.store.list()]
            close = difflib.get_close_matches(session, live, n=1)
            guess = f"did you mean {close[0]!r}? " if close else ""
            raise NotFoundError(
                f"no session {session!r}, live or archived, and no events of it",
                hint=f"{guess}`ao list --all` shows every session",
            )
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
    from ao.lifecycle.watch import tick
    from ao.session.context import Context
    from ao.store.state import validate_session_id

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
