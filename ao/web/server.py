"""Serving the dashboard: one server per config, bound before anything is announced.

``serve`` takes the config's dashboard lock (``ao.api.dashboard``), binds the socket
itself (a busy port is a ``ConflictError`` naming the ``port`` key, not a traceback from
inside uvicorn), publishes where it listens, and runs uvicorn on that socket until
SIGINT/SIGTERM, or, for the dashboard ``ao start`` runs, until the watcher has ended.
uvicorn's access log is off: the URL that carries the token must never reach a log.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
import threading
import time
import typing as t

import uvicorn

from ao.api import dashboard as board
from ao.sdk.errors import ConflictError, UsageError
from ao.sdk.redact import register
from ao.web.app import create_app
from ao.web.security import Policy

if t.TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from ao.api import Orchestrator

# a dashboard that follows the watcher waits this long for it to show up (it starts at the
# same time), and ends this long after it was last seen (a restart takes less)
WATCHER_FIRST = 60.0
WATCHER_GONE = 5.0
WS_MAX_SIZE = 1024 * 1024  # one terminal message (a paste) at most; keystrokes are bytes


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port`` (0: a free port), or a clear error."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UsageError(
            f"cannot listen on {host!r}: {exc.strerror}",
            hint="set `dashboard.host` in agent-orchestrator.yaml (or pass --host) to an "
            "address of this machine",
        ) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        # a restarted server may take over a port whose old connections linger in TIME_WAIT
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConflictError(
                f"port {port} on {host} is in use",
                hint="set `port:` in agent-orchestrator.yaml (or pass --port) to a free port",
            ) from None
        hint = (
            "ports below 1024 need privileges: set `port:` in agent-orchestrator.yaml"
            if exc.errno == errno.EACCES
            else "set `dashboard.host` in agent-orchestrator.yaml (or pass --host) to an "
            "address of this machine"
        )
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}", hint=hint) from None
    return sock


def serve(
    api: Orchestrator,
    *,
    host: str | None = None,
    port: int | None = None,
    follow_watcher: bool = False,
    on_ready: Callable[[str, str], None] | None = None,
    poll_interval: float = 1.0,
) -> None:
    """Serve the config's dashboard until stopped; ``on_ready(url, token)`` once it listens.

    ``host``/``port`` default to ``dashboard.host`` and ``port`` of the config.
    ConflictError when another dashboard serves the config or the port is taken.
    """
    ctx = api.context
    config_path = ctx.loaded.path
    host = host or ctx.config.dashboard.host
    port = ctx.config.port if port is None else port
    lock = board.claim(config_path)
    if lock is None:
        raise ConflictError(
            "a dashboard already serves this config", hint="`ao dashboard` prints its URL"
        )
    try:
        sock = bind(host, port)
        port = sock.getsockname()[1]
        token = board.ensure_token()
        register(token)  # redacted from anything this process writes
        server: uvicorn.Server | None = None
        app = create_app(
            api, Policy(token=token, host=host, port=port), poll_interval=poll_interval,
            stopping=lambda: server is not None and server.should_exit,
        )  # fmt: skip
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, timeout_graceful_shutdown=3,
            lifespan="off", server_header=False, ws_max_size=WS_MAX_SIZE,
        )  # fmt: skip
        server = uvicorn.Server(config)
        board.publish(config_path, host=host, port=port, follows_watcher=follow_watcher)
        if follow_watcher:
            threading.Thread(
                target=_follow, args=(config_path, server), name="ao-follow-watcher", daemon=True
            ).start()
        if on_ready is not None:
            on_ready(board.url_for(host, port), token)
        try:
            server.run(sockets=[sock])
        finally:
            app.state.terminals.close()  # no view outlives the server
    finally:
        board.withdraw(config_path)
        os.close(lock)


def _follow(config_path: Path, server: uvicorn.Server, every: float = 1.0) -> None:
    """End the server once the config's watcher is gone: ``WATCHER_GONE`` seconds after it
    was last seen, or ``WATCHER_FIRST`` seconds after starting if it never showed up."""
    started = time.monotonic()
    seen: float | None = None
    while not server.should_exit:
        now = time.monotonic()
        if board.watcher_alive(config_path):
            seen = now
        elif now - (started if seen is None else seen) > (
            WATCHER_FIRST if seen is None else WATCHER_GONE
        ):
            sys.stderr.write("ao: the watcher has ended; so does its dashboard\n")
            server.should_exit = True
            return
        time.sleep(every)
