"""The dashboard commands: ``ao dashboard`` (serve it) and ``ao api`` (call it)."""

from __future__ import annotations

import enum

import typer

from ao.cli.common import orchestrator


class Method(enum.StrEnum):
    """HTTP methods ``ao api`` sends."""

    GET = "GET"
    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"
    DELETE = "DELETE"


def dashboard(
    host: str = typer.Option(
        None,
        "--host",
        help="Address to bind (default: dashboard.host, 127.0.0.1). Any other "
        "than loopback needs the token for every request.",
    ),
    port: int = typer.Option(
        None,
        "--port",
        min=0,
        max=65535,
        help="Port (default: the config's port, 3000; 0: any free port).",
    ),
    open_: bool = typer.Option(False, "--open", help="Open it in the browser."),
    follow_watcher: bool = typer.Option(
        False,
        "--follow-watcher",
        hidden=True,
        help="End when the config's watcher ends (how `ao start` runs it).",
    ),
) -> None:
    """Serve the dashboard and its REST API for this config (Ctrl-C stops it).

    Prints the URL with the token once; opening it keeps the token in a cookie. If a
    dashboard already serves this config, prints its URL instead.
    """
    # lazy: loaded by this command only, so `ao --help` stays fast
    import sys
    import webbrowser

    from ao.api.dashboard import read_token
    from ao.cli.output import info, out

    api = orchestrator()
    running = api.dashboard()
    if running is not None:
        info(f"ao: a dashboard already serves this config (pid {running.pid})")
        url = _with_token(running.url, read_token())
        if not follow_watcher:
            out(url)
        if open_:
            webbrowser.open(url)
        return

    def ready(url: str, token: str) -> None:
        if follow_watcher:  # its output is a log file: no token in it
            info(f"ao: dashboard at {url}; it ends when the watcher ends")
        else:
            out(_with_token(url, token))
            info("ao: serving the dashboard and its API (Ctrl-C stops it)")
        sys.stdout.flush()
        sys.stderr.flush()
        if open_:
            webbrowser.open(_with_token(url, token))

    # lazy: fastapi and uvicorn load for this command only
    from ao.web.server import serve

    serve(api, host=host, port=port, follow_watcher=follow_watcher, on_ready=ready)


def _with_token(url: str, token: str | None) -> str:
    return f"{url}/?token={token}" if token else url


def api(
    method: Method = typer.Argument(
        ..., metavar="METHOD", case_sensitive=False, help="GET, POST or DELETE (any case)."
    ),
    route: str = typer.Argument(
        ..., metavar="ROUTE", help="e.g. /sessions or /sessions/ID/status (under /api)."
    ),
    data: str = typer.Option(
        None, "--data", "-d", help="JSON body; '-' reads it from stdin, @FILE from a file."
    ),
    url: str = typer.Option(
        None, "--url", help="The dashboard's URL (default: the one serving this config)."
    ),
) -> None:
    """Call the running dashboard's REST API: `ao api POST /sessions/ID/message -d '{...}'`.

    Prints the JSON answer (an event stream line by line); an error exits with the code
    the matching command would. The token is $AO_DASHBOARD_TOKEN, else
    $AO_HOME/dashboard.token.
    """
    # lazy: loaded by this command only, so `ao --help` stays fast
    import os
    import sys
    from pathlib import Path

    from ao.api.dashboard import read_token
    from ao.cli.output import out
    from ao.sdk.errors import NotFoundError
    from ao.session.inputs import read_bounded, read_text_file
    from ao.web.client import call

    if data == "-":
        data = read_bounded(sys.stdin.buffer, "stdin")
    elif data is not None and data.startswith("@"):
        data = read_text_file(Path(data[1:]))
    if url is None:
        running = orchestrator().dashboard()
        if running is None:
            raise NotFoundError(
                "no dashboard serves this config",
                hint="start one with `ao dashboard` (`ao start` runs one), or pass --url",
            )
        url = running.url

    def line(text: str) -> None:
        out(text)
        sys.stdout.flush()

    token = os.environ.get("AO_DASHBOARD_TOKEN") or read_token()
    call(method.value, route, data, base_url=url, token=token, out=line)


def register(app: typer.Typer) -> None:
    """Add the dashboard commands to ``app``."""
    app.command("dashboard")(dashboard)
    app.command("api")(api)
