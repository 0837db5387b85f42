"""MCP tools, end to end: the scripted model makes the real Claude Code call a tool of a real
stdio MCP server (``mcp_echo_server.py``, started from ``--mcp-config``) under ``ao``.

What these tests pin down about Claude Code 2.1.330:

- an MCP server ``S``'s tool ``T`` is ``mcp__S__T``; 2.1.330 lists it as a *deferred* tool
  (by name, in a system message, not in ``tools``) unless ``ENABLE_TOOL_SEARCH=false``,
  yet a direct ``tool_use`` of it runs;
- ``--allowedTools mcp__S`` lets it run without a question; without an allow rule the
  ``manual`` permission mode asks ("Do you want to proceed?");
- the MCP server inherits the pane's environment (ao's ``AO_SESSION_ID`` reaches it);
- the tool's result comes back as a ``tool_result`` whose ``content`` is a string: the
  JSON text the tool returned, sometimes followed by ``<system-reminder>`` blocks.

The first test also covers the fake model's conversation routing without any CLI.
"""

from __future__ import annotations

import json
import sys
import typing as t
import urllib.request
from pathlib import Path

import pytest
import yaml

from ao.selftest.combined import ScriptedModel

from . import fakemodel as fm
from .conftest import Harness, wait_for

pytestmark = [pytest.mark.agents, pytest.mark.tmux, pytest.mark.slow, pytest.mark.timeout(240)]

ECHO_SERVER = Path(__file__).with_name("mcp_echo_server.py")
TOOL = "mcp__ao__echo"


def mcp_config(where: Path) -> Path:
    """A ``--mcp-config`` file naming the echo server ``ao`` (stdio, this interpreter)."""
    path = where / "mcp.json"
    server = {"type": "stdio", "command": sys.executable, "args": [str(ECHO_SERVER)]}
    path.write_text(json.dumps({"mcpServers": {"ao": server}}))
    return path


def configure(h: Harness, *flags: str) -> None:
    """Claude Code sessions of project ``demo`` start as ``claude FLAGS…`` (+ ao's own)."""
    config = {
        "defaults": {"agent": "claude-code"},
        "agents": {"claude-code": {"command": ["claude", *flags]}},
        "projects": {"demo": {"path": str(h.repo), "sessionPrefix": "d",
                              "model": "claude-sonnet-4-5"}},
    }  # fmt: skip
    (h.repo.parent / "agent-orchestrator.yaml").write_text(yaml.safe_dump(config))


def echo_log(path: Path) -> list[dict[str, t.Any]]:
    """The echo server's log: its ``start`` and ``call`` entries."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def tool_results(req: fm.Request) -> list[dict[str, t.Any]]:
    """The ``tool_result`` blocks of a request's last user message."""
    last = req.body["messages"][-1]
    content = last.get("content")
    if last.get("role") != "user" or not isinstance(content, list):
        return []
    return [c for c in content if isinstance(c, dict) and c.get("type") == "tool_result"]


def result_json(block: dict[str, t.Any]) -> t.Any:
    """The JSON a tool returned, from its result's content (a string, or text blocks).

    Claude Code may append ``<system-reminder>`` blocks to the same string (newly loaded
    deferred tools, the token budget): the JSON is what the content starts with.
    """
    content = block["content"]
    if isinstance(content, list):
        content = "".join(c.get("text", "") for c in content if isinstance(c, dict))
    value, _ = json.JSONDecoder().raw_decode(content)
    return value


@pytest.fixture
def mcp_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the echo server logs; set in ao's environment only (the pane inherits it)."""
    path = tmp_path / "echo.log"
    monkeypatch.setenv("MCP_ECHO_LOG", str(path))
    return path


def _post(url: str, body: dict[str, t.Any]) -> dict[str, t.Any]:
    req = urllib.request.Request(
        url, json.dumps(body).encode(), {"content-type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        doc: dict[str, t.Any] = json.loads(resp.read())
    return doc


def test_routes_and_tool_steps_in_every_protocol() -> None:
    """Each conversation gets its route's script (first marker wins); a tool step becomes
    the protocol's own tool call (Codex's MCP namespace included)."""
    model = ScriptedModel([fm.text("default")]).start()
    try:
        model.route("ORCH-1", fm.tool(TOOL, {"text": "o"}), fm.text("orchestrator done"))
        model.route("WORK-2", fm.text("worker reply"))
        model.route("ORCH", fm.text("never: ORCH-1 is matched first"))
        tools = [{"name": "Bash", "input_schema": {}}]
        user = {"role": "user", "content": "ORCH-1: hand out WORK-2"}
        msg = _post(model.url + "/v1/messages", {"messages": [user], "tools": tools})
        assert msg["content"][0] == {**msg["content"][0], "type": "tool_use", "name": TOOL,
                                     "input": {"text": "o"}}  # fmt: skip
        turn = [
            user,
            {"role": "assistant", "content": msg["content"]},
            {"role": "user", "content": "r"},
        ]
        msg = _post(model.url + "/v1/messages", {"messages": turn, "tools": tools})
        assert msg["content"][0]["text"] == "orchestrator done"
        msg = _post(
            model.url + "/v1/messages",
            {"messages": [{"role": "user", "content": "WORK-2 go"}], "tools": tools},
        )
        assert msg["content"][0]["text"] == "worker reply"
        msg = _post(
            model.url + "/v1/messages",
            {"messages": [{"role": "user", "content": "hi"}], "tools": tools},
        )
        assert msg["content"][0]["text"] == "default"

        space = {
            "type": "namespace",
            "name": "mcp__ao",
            "tools": [{"type": "function", "name": "echo"}],
        }
        resp = _post(
            model.base_url + "/responses",
            {"input": [{"type": "message", "role": "user", "content": "ORCH-1"}], "tools": [space]},
        )
        (item,) = resp["output"]
        assert (item["type"], item["namespace"], item["name"]) == (
            "function_call",
            "mcp__ao",
            "echo",
        )
        assert json.loads(item["arguments"]) == {"text": "o"}

        chat_tools = [{"type": "function", "function": {"name": TOOL}}]
        chat = _post(
            model.base_url + "/chat/completions",
            {"messages": [{"role": "user", "content": "ORCH-1"}], "tools": chat_tools},
        )
        (call,) = chat["choices"][0]["message"]["tool_calls"]
        assert call["function"]["name"] == TOOL and json.loads(call["function"]["arguments"]) == {
            "text": "o"
        }

        gemini = _post(model.url + "/v1beta/models/gemini-2.5-pro:generateContent",
                       {"contents": [{"role": "user", "parts": [{"text": "WORK-2"}]}], "tools": [{}]})  # fmt: skip
        assert gemini["candidates"][0]["content"]["parts"] == [{"text": "worker reply"}]

        routes = [(r.api, r.position, r.route) for r in model.main_requests()]
        assert routes == [("anthropic", 0, "ORCH-1"), ("anthropic", 1, "ORCH-1"),
                          ("anthropic", 0, "WORK-2"), ("anthropic", 0, None),
                          ("openai", 0, "ORCH-1"), ("chat", 0, "ORCH-1"),
                          ("gemini", 0, "WORK-2")]  # fmt: skip
        assert model.turns_served("ORCH-1") == 2 and model.turns_served(None) == 1
        assert model.step_for(0) == fm.text("default")  # the default script, as before
        assert model.step_for(1, {"messages": ["ORCH-1"]}) == fm.text("orchestrator done")
    finally:
        model.close()


def test_claude_calls_an_mcp_tool_and_the_result_reaches_the_model(
    claude: Harness, tmp_path: Path, mcp_log: Path
) -> None:
    """The script calls ``mcp__ao__echo``; it runs without a question (``--allowedTools``),
    in a server that sees the session's environment; its JSON comes back as the result."""
    configure(claude, "--mcp-config", str(mcp_config(tmp_path)), "--strict-mcp-config",
              "--allowedTools", "mcp__ao")  # fmt: skip
    claude.fake.script(fm.tool(TOOL, {"text": "ping 42"}), fm.text("The tool answered."))
    assert claude.ao("new", "Call the echo tool.").returncode == 0
    claude.wait_activity("d-1", "ready", timeout=60)
    wait_for(lambda: claude.fake.turns_served() >= 2, 30, "the turn after the tool call")

    calls = [e for e in echo_log(mcp_log) if e["event"] == "call"]
    assert [c["text"] for c in calls] == ["ping 42"], calls
    assert calls[0]["env"]["AO_SESSION_ID"] == "d-1"  # ao's pane environment reached it

    first, second = claude.fake.main_requests()[:2]
    (use,) = [b for b in second.body["messages"][-2]["content"] if b.get("type") == "tool_use"]
    assert use["name"] == TOOL
    (result,) = tool_results(second)
    assert result["tool_use_id"] == use["id"] and not result.get("is_error"), result
    assert result_json(result) == {"echo": "ping 42", "pid": calls[0]["pid"]}
    # the tool is known by name (deferred: its schema is loaded on demand), in the first
    # request if the server was up by then, else announced in a later one
    assert TOOL in first.text() or TOOL in second.text()
    assert TOOL not in [tool["name"] for tool in first.body["tools"]]


def test_routed_conversations_each_call_the_tool_from_their_own_script(
    claude: Harness, tmp_path: Path, mcp_log: Path
) -> None:
    """Two Claude Code sessions, one fake model, a script per conversation (by marker):
    each session's own MCP server runs its own call, with its own AO_SESSION_ID."""
    configure(claude, "--mcp-config", str(mcp_config(tmp_path)), "--strict-mcp-config",
              "--allowedTools", "mcp__ao")  # fmt: skip
    claude.fake.script(fm.text("Nobody should get this."))
    claude.fake.route("ORCH-7F3", fm.tool(TOOL, {"text": "from the orchestrator"}),
                      fm.text("Orchestrator done."))  # fmt: skip
    claude.fake.route("WORKER-2C9", fm.tool(TOOL, {"text": "from the worker"}),
                      fm.text("Worker done."))  # fmt: skip
    assert claude.ao("new", "ORCH-7F3: call the echo tool.").returncode == 0
    assert claude.ao("new", "WORKER-2C9: call the echo tool.").returncode == 0
    claude.wait_activity("d-1", "ready", timeout=60)
    claude.wait_activity("d-2", "ready", timeout=60)
    for marker in ("ORCH-7F3", "WORKER-2C9"):
        wait_for(lambda m=marker: claude.fake.turns_served(m) >= 2, 30, f"{marker}'s 2 turns")

    calls = {c["env"]["AO_SESSION_ID"]: c for c in echo_log(mcp_log) if c["event"] == "call"}
    assert {s: c["text"] for s, c in calls.items()} == {
        "d-1": "from the orchestrator", "d-2": "from the worker",
    }  # fmt: skip
    assert calls["d-1"]["pid"] != calls["d-2"]["pid"]  # a server process per session
    assert claude.fake.main_requests(None) == []  # nothing fell through to the default
    for marker, said in (("ORCH-7F3", "from the orchestrator"), ("WORKER-2C9", "from the worker")):
        mine = claude.fake.main_requests(marker)
        assert [r.position for r in mine[:2]] == [0, 1], [(r.position, r.route) for r in mine]
        (result,) = tool_results(mine[1])
        assert result_json(result)["echo"] == said


def test_an_mcp_tool_without_an_allow_rule_asks_first(
    claude: Harness, tmp_path: Path, mcp_log: Path
) -> None:
    """ao's default permissions (Claude's ``manual`` mode) and no ``--allowedTools``: Claude
    asks before the MCP tool runs (needs_input), and it runs once approved."""
    configure(claude, "--mcp-config", str(mcp_config(tmp_path)), "--strict-mcp-config")
    claude.fake.script(fm.tool(TOOL, {"text": "asked first"}), fm.text("Done."))
    assert claude.ao("new", "Call the echo tool.").returncode == 0
    claude.wait_activity("d-1", "needs_input", timeout=60)
    wait_for(lambda: "Do you want to proceed?" in claude.screen("d-1"), 10, "the question")
    assert not [e for e in echo_log(mcp_log) if e["event"] == "call"]
    sent = claude.ok("send", "d-1", "1")
    assert sent["status"] == "delivered", sent  # type: ignore[index]
    claude.wait_activity("d-1", "ready", timeout=30)
    wait_for(lambda: [e["text"] for e in echo_log(mcp_log) if e["event"] == "call"], 10, "the call")
    (result,) = tool_results(claude.fake.main_requests()[1])
    assert result_json(result)["echo"] == "asked first"
