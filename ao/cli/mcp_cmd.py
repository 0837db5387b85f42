"""``ao mcp``: serve ao's tools to an MCP client over stdio (``ao.mcp``)."""

from __future__ import annotations

import typer


def mcp() -> None:
    """Serve ao's tools to an MCP client over stdin/stdout (Claude Code, Codex, Gemini CLI).

    Tools: create_task, spawn_agent, send_to_agent, list_agents, task_status, cancel_task,
    stop_agent, provision_workspace, finalize_workspace; resources: ao://events,
    ao://sessions/ID/status, ao://sessions/ID/logs. It works on the config the usual
    lookup finds ($AO_CONFIG, the nearest agent-orchestrator.yaml...), from that config's
    directory. Inside an ao session, tasks report to that session. See docs/delegation.md.
    """
    # lazy: the MCP SDK loads for this command only, so `ao --help` stays fast
    from ao.mcp.server import open_orchestrator, serve

    serve(open_orchestrator())


def register(app: typer.Typer) -> None:
    """Add ``ao mcp`` to ``app``."""
    app.command("mcp")(mcp)
