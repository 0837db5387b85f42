"""MCP servers for Kimi Code CLI: the ``--mcp-config-file``, the tools to approve, the env.

Kimi starts a stdio server with only ``HOME``, ``LOGNAME``, ``PATH``, ``SHELL``, ``TERM``,
``USER`` and the ``env`` its config lists (the MCP SDK's default), not with its own
environment. A server ao gives it (``ao mcp``) needs the agent's whole environment: the
workers it starts get it, keys included. So each server is started through a small
launcher that reads the environment from a file ao writes at launch (0600, in a private
directory in memory: ``ao.sdk.home.memory_dir``), deletes the file, and execs the server:
no secret stays on disk or on a command line. A server Kimi starts again later in the
same process (a reconnect) gets Kimi's variables and the server's own ``env`` only.

Kimi asks before every call of an MCP tool (action ``mcp:<tool>``) unless the session
approved that action: ao lists the server's tools once at launch (``tools/list`` over
stdio, bounded) and approves them in the session's state (``native.seed_session``).
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import time
import typing as t
from collections.abc import Mapping, Sequence
from pathlib import Path

from ao.sdk.agentkit import write_json
from ao.sdk.contracts import McpServer
from ao.sdk.home import write_env_file

LIST_TIMEOUT = 20.0  # seconds for a server to start and list its tools
STALE = 600.0  # seconds after which a launcher's env file nobody read is removed
PROTOCOL = "2025-06-18"
# the launcher: argv = ENV_FILE -- SERVER_ARGV...; the file's variables under Kimi's own
LAUNCHER = """\
import json, os, sys
path, argv = sys.argv[1], sys.argv[3:]
env = {}
try:
    with open(path, encoding="utf-8") as fh:
        env = json.load(fh)
    os.unlink(path)
except (OSError, ValueError):
    pass
env.update(os.environ)
os.execvpe(argv[0], argv, env)
"""


def tool_names(
    server: McpServer, env: Mapping[str, str], timeout: float = LIST_TIMEOUT
) -> list[str]:
    """The names of ``server``'s tools: it is started with ``env`` plus its own, asked
    ``initialize`` and ``tools/list`` on stdin (kept open until it answered: a server may
    exit at end of input before answering), then ended. ``[]`` when it does not answer
    within ``timeout`` seconds or at all."""
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"protocolVersion": PROTOCOL, "capabilities": {},
                    "clientInfo": {"name": "ao", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    ]  # fmt: skip
    try:
        child = subprocess.Popen(
            list(server.command), env={**os.environ, **env, **server.env},
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    except OSError:
        return []
    try:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write("".join(json.dumps(m) + "\n" for m in messages).encode())
        child.stdin.flush()
        return _read_tools(child.stdout, time.monotonic() + timeout)
    except OSError:
        return []
    finally:
        _end(child)


def _read_tools(stdout: t.IO[bytes], deadline: float) -> list[str]:
    """The tools of the ``tools/list`` reply among the lines ``stdout`` gives before
    ``deadline`` (``[]`` without one)."""
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(stdout, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if not selector.select(left):
                break
            chunk = os.read(stdout.fileno(), 65536)
            if not chunk:
                break
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                with contextlib.suppress(ValueError, AttributeError, TypeError, KeyError):
                    reply = json.loads(line)
                    if reply.get("id") == 2:
                        tools = reply["result"]["tools"]
                        return [str(tool["name"]) for tool in tools if tool.get("name")]
    return []


def _end(child: subprocess.Popen[bytes]) -> None:
    """Close the server's input and end its process group (killed if it lingers)."""
    with contextlib.suppress(OSError):
        if child.stdin is not None:
            child.stdin.close()
    try:
        child.wait(timeout=2)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=5)
    with contextlib.suppress(OSError):
        if child.stdout is not None:
            child.stdout.close()


def write_config(
    path: Path, servers: Sequence[McpServer], env: Mapping[str, str], state_dir: Path
) -> None:
    """The ``--mcp-config-file``: each server started through the launcher with ``env``
    (a file of its own, read once), its own ``env`` listed as Kimi expects."""
    entries: dict[str, t.Any] = {}
    for server in servers:
        env_file = write_env_file({**env, **server.env}, "kimi-mcp-env-", STALE)
        entries[server.name] = {
            "command": sys.executable,
            "args": ["-I", "-S", "-c", LAUNCHER, str(env_file), "--", *server.command],
            "env": dict(server.env),
        }
    write_json(path, {"mcpServers": entries})
