"""The scripted fake Chat Completions API for the agent tests (OpenCode, Aider, Pi).

The server is ``ao.selftest.chat`` (it ships with ao for ``ao doctor --agents``); this
module re-exports it and keeps the test-only harness helpers (``register_agents``,
``kill_panes``).
"""

from __future__ import annotations

import typing as t

from ao.selftest.chat import AUX_MARKERS, FakeChat, request_cwd
from ao.selftest.server import (
    AUX_REPLY,
    DEFAULT_REPLY,
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    JsonHandler,
    Request,
    ScriptedServer,
    Step,
    auth_error,
    busy,
    needs_permission,
    shell,
    text,
    usage_limit,
    write_file,
)

__all__ = [
    "AUX_MARKERS", "AUX_REPLY", "DEFAULT_REPLY", "INPUT_TOKENS", "OUTPUT_TOKENS", "FakeChat",
    "JsonHandler", "Request", "ScriptedServer", "Step", "auth_error", "busy",
    "kill_panes", "needs_permission", "register_agents", "request_cwd", "shell", "text",
    "usage_limit", "write_file",
]  # fmt: skip

# ----------------------------------------------------------------------------- harness

# entry points of the adapters these fakes serve (ao.agent group), as pyproject names them
MORE_AGENTS = {
    "gemini": "ao_plugins.agent_gemini:GeminiAgent",
    "opencode": "ao_plugins.agent_opencode:OpenCodeAgent",
    "aider": "ao_plugins.agent_aider:AiderAgent",
    "pi": "ao_plugins.agent_pi:PiAgent",
    "cursor": "ao_plugins.agent_cursor:CursorAgent",
}


def register_agents(where: t.Any, monkeypatch: t.Any) -> None:
    """Make ``ao`` subprocesses find the adapters even before pyproject registers them.

    Writes a metadata-only distribution (``entry_points.txt``) into ``where`` and puts it
    on PYTHONPATH; nothing is installed. A no-op once the real entry points exist.
    """
    import os
    from importlib import metadata
    from pathlib import Path

    known = {ep.name for ep in metadata.entry_points(group="ao.agent")}
    missing = {name: target for name, target in MORE_AGENTS.items() if name not in known}
    if not missing:
        return
    dist = Path(where) / "ao_more_agents-0.0.0.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ao-more-agents\nVersion: 0.0.0\n")
    lines = "".join(f"{name} = {target}\n" for name, target in missing.items())
    (dist / "entry_points.txt").write_text(f"[ao.agent]\n{lines}")
    path = os.pathsep.join(p for p in (str(where), os.environ.get("PYTHONPATH", "")) if p)
    monkeypatch.setenv("PYTHONPATH", path)


def kill_panes(server: t.Any) -> None:
    """Kill every pane's process group on a test's tmux server.

    Some CLIs (Gemini CLI's node relauncher) survive the SIGHUP of a killed tmux server;
    ao itself ends sessions by process group, so tests clean up the same way.
    """
    import contextlib
    import os
    import signal

    try:
        pids = server.cmd("list-panes", "-a", "-F", "#{pane_pid}").stdout
    except Exception:
        return
    for pid in pids:
        if str(pid).strip().isdigit():
            with contextlib.suppress(OSError):
                os.killpg(int(pid), signal.SIGKILL)
