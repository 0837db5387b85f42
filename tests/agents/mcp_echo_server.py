"""A tiny stdio MCP server for the agent tests: one tool, ``echo(text)``.

Run as ``python tests/agents/mcp_echo_server.py`` (the CLI under test starts it from its
MCP config). Each call appends a JSON line to the file ``$MCP_ECHO_LOG`` names (the
text, the server's pid and the ``AO_*``/``MCP_ECHO_*`` variables it sees, so a test can
tell which environment the CLI handed it) and returns ``{"echo": text, "pid": pid}``.
With ``$MCP_ECHO_LOG`` set, the server also appends a ``{"event": "start"}`` line when it
starts (to time the CLI's MCP start-up). ``$MCP_ECHO_START_DELAY`` seconds of sleep before
it answers anything stand for a server that is slow to start.
"""

from __future__ import annotations

import json
import os
import time
import typing as t

from mcp.server.mcpserver import MCPServer

server = MCPServer("echo")


def _log(entry: dict[str, t.Any]) -> None:
    path = os.environ.get("MCP_ECHO_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as out:  # noqa: PTH123 - a plain append
            out.write(json.dumps(entry) + "\n")


def _seen_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(("AO_", "MCP_ECHO_"))}


@server.tool()
def echo(text: str) -> dict[str, t.Any]:
    """Echo ``text`` back (and log the call to ``$MCP_ECHO_LOG``)."""
    _log({"event": "call", "text": text, "pid": os.getpid(), "env": _seen_env(),
          "at": time.time()})  # fmt: skip
    return {"echo": text, "pid": os.getpid()}


def main() -> None:
    """Serve on stdio until the client closes it."""
    _log({"event": "start", "pid": os.getpid(), "env": _seen_env(), "at": time.time()})
    time.sleep(float(os.environ.get("MCP_ECHO_START_DELAY") or 0))
    server.run()


if __name__ == "__main__":
    main()
