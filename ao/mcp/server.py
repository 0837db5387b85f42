"""``ao mcp``: ao's tools and read-only resources for MCP clients, over stdio.

``build(api, env)`` makes the server (tools in ``ao.mcp.tools``); ``serve`` runs it on
stdin/stdout until the client closes stdin. stdout is the transport: while it serves,
the SDK points fd 1 at stderr, so nothing else (a child process, a stray print) can
corrupt the protocol, and ao's warnings go to stderr through the CLI's sink.
"""

from __future__ import annotations

import json
import os
import typing as t
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp_types import ToolAnnotations

from ao import __version__
from ao.api import Orchestrator
from ao.mcp.tools import CATALOG, Tools, error_text
from ao.sdk.errors import AoError, NotFoundError
from ao.store.oserrors import from_os_error

T = t.TypeVar("T")

INSTRUCTIONS = """\
ao runs coding agents, each in its own git worktree, branch and terminal session.
Delegate work with create_task (a goal plus the commands that prove it done; ao accepts \
the work only when they pass) or spawn_agent (no verification). Follow it with \
list_agents and task_status; answer a waiting agent with send_to_agent; publish a \
session's branch with finalize_workspace; end it with stop_agent (its work is kept). \
Inside an ao session, the tasks you create report back to you as messages starting \
with "[ao]"."""
EVENTS = 50  # the events ao://events shows
LOG_LINES = 200  # the screen lines ao://sessions/{session}/logs shows


def open_orchestrator(cwd: Path | str | None = None) -> Orchestrator:
    """The API over the config the CLI's lookup finds from ``cwd`` ($AO_CONFIG, else the
    nearest agent-orchestrator.yaml, else $AO_HOME/config.yaml), loaded now (ConfigError
    when there is none or it is invalid), working from the config's directory: an agent
    runs this in its worktree, and a repository ``add_project`` clones belongs next to
    the config, not inside that worktree."""
    path = Orchestrator(cwd).config_path
    # without a config this raises the CLI's "no agent-orchestrator.yaml" error
    return Orchestrator.from_config(path.parent if path else cwd, path)


def build(api: Orchestrator, env: Mapping[str, str] | None = None) -> MCPServer[Any]:
    """The MCP server over ``api``. ``env`` (default: this process's) says whether it runs
    inside an ao session (``AO_SESSION_ID``, ``AO_PROJECT``): tasks then report to that
    session, and its project is the default one."""
    env = os.environ if env is None else env
    server: MCPServer[Any] = MCPServer(
        "ao",
        title="ao: agent orchestrator",
        version=__version__,
        instructions=INSTRUCTIONS,
        log_level="WARNING",
    )
    tools = Tools(api, env)
    for name, (aliases, read_only, destructive) in CATALOG.items():
        fn = getattr(tools, name)
        server.add_tool(
            fn,
            name=name,
            description=_description(fn, aliases),
            meta={"aliases": list(aliases)},
            annotations=ToolAnnotations(
                read_only_hint=read_only, destructive_hint=destructive, open_world_hint=False
            ),
        )
    _resources(server, api, env.get("AO_PROJECT") or None)
    return server


def _description(fn: Callable[..., Any], aliases: tuple[str, ...]) -> str:
    """The tool's docstring on one line, after the reference action names clients look for."""
    legacy = f" (legacy name: {', '.join(aliases[1:])})" if len(aliases) > 1 else ""
    return f"{aliases[0]}{legacy}. {' '.join((fn.__doc__ or '').split())}"


def _resources(server: MCPServer[Any], api: Orchestrator, home: str | None) -> None:
    """The read-only views: a session's status and screen, the recent events."""

    @server.resource(
        "ao://sessions/{session}/status",
        name="session_status",
        mime_type="application/json",
        description="A live session in detail, as `ao status SESSION --json` has it: status, "
        "activity and the evidence behind it, branch, worktree, ports, the agent's usage.",
    )
    async def session_status(session: str) -> str:
        detail = await _read(lambda: api.status(session))
        return json.dumps(detail.to_json(), indent=2)

    @server.resource(
        "ao://sessions/{session}/logs",
        name="session_logs",
        mime_type="text/plain",
        description=f"The last {LOG_LINES} lines of a session's screen (its saved last screen "
        "once stopped), as `ao logs SESSION` shows them.",
    )
    async def session_logs(session: str) -> str:
        return await _read(lambda: api.logs(session, lines=LOG_LINES))

    scope = f"project {home}" if home else "every project"
    description = f"The last {EVENTS} events of {scope} (status changes, tasks, messages, "
    description += "notifications), oldest first, as `ao events --json` has them."

    @server.resource(
        "ao://events", name="events", mime_type="application/json", description=description
    )
    async def recent_events() -> str:
        page = await _read(lambda: api.events(project=home, limit=EVENTS))
        return json.dumps(page.to_json(), indent=2)


async def _read(call: Callable[[], T]) -> T:
    """``call`` in a worker thread; ao's errors as resource errors with the CLI's text
    (an unknown session is the protocol's "invalid params")."""
    try:
        return await anyio.to_thread.run_sync(call)
    except NotFoundError as exc:
        raise ResourceNotFoundError(error_text(exc)) from None
    except AoError as exc:
        raise ResourceError(error_text(exc)) from None
    except OSError as exc:
        raise ResourceError(error_text(from_os_error(exc))) from None


def serve(api: Orchestrator, env: Mapping[str, str] | None = None) -> None:
    """Serve ``api`` over stdin/stdout until the client closes stdin."""
    anyio.run(build(api, env).run_stdio_async)
