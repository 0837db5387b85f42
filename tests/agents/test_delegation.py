"""Delegation end to end: a real Claude Code orchestrator drives real Claude Code workers.

`ao orchestrate` starts Claude Code with ao's MCP server (`ao mcp`). The scripted model
makes the orchestrator call `create_task` twice and `list_agents`; the MCP server starts
two worker sessions (real Claude Code, own worktrees), the workers write their files, the
watcher (`ao watch`, running as a user would run it) verifies each task in its worktree
and tells the orchestrator of each completion as a message; the orchestrator's last
`list_agents` shows both completed. One fake model serves every conversation: each is
routed by a marker in its own prompt (the orchestrator's first, since its conversation
quotes the workers' goals).
"""

from __future__ import annotations

import json
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest

from tests.agents.conftest import Harness, wait_for
from tests.agents.fakegemini import FakeGemini
from tests.agents.fakemodel import text, tool, write_file
from tests.agents.test_gemini import gemini, gfake  # noqa: F401 - fixtures

pytestmark = [pytest.mark.agents, pytest.mark.tmux, pytest.mark.slow, pytest.mark.timeout(600)]

ORCH = "ORCH-7Q"  # in the orchestrator's goal, so in its conversation only


def start_watcher(h: Harness) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ao", "watch", "--interval", "1"], cwd=h.repo.parent,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip


def tasks(h: Harness) -> list[dict[str, t.Any]]:
    rows = h.ok("task", "list")
    assert isinstance(rows, list)
    return rows


def last_tool_result(h: Harness) -> t.Any:
    """The JSON of the last tool result the orchestrator's conversation holds."""
    request = h.fake.main_requests(ORCH)[-1]
    blocks = [
        block
        for message in request.body.get("messages") or []
        if isinstance(message.get("content"), list)
        for block in message["content"]
        if isinstance(block, dict) and block.get("type") == "tool_result"
    ]
    assert blocks, request.text()
    content = blocks[-1]["content"]
    raw = content if isinstance(content, str) else json.dumps(content)
    if not isinstance(content, str):  # a list of text blocks
        raw = "".join(b.get("text", "") for b in content if isinstance(b, dict))
    return json.JSONDecoder().raw_decode(raw[raw.index("{") :])[0]


def orchestrate(h: Harness) -> str:
    r = h.ao("orchestrate", f"{ORCH}: build the files", "--json", timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    created = json.loads(r.stdout)["data"]
    assert created["id"] == "d-orchestrator" and created["role"] == "orchestrator"
    return str(created["id"])


def create(marker: str, name: str) -> t.Any:
    return tool("mcp__ao__create_task",
                {"goal": f"{marker}: write {name}", "verify": [f"grep -qx {marker} {name}"]})  # fmt: skip


def worktree_file(h: Harness, session: str, name: str) -> str:
    return (Path(str(h.status(session)["worktree"])) / name).read_text()


def test_an_orchestrator_delegates_two_verified_tasks_and_hears_they_completed(
    claude: Harness,
) -> None:
    h = claude
    h.configure("claude-code", model="claude-sonnet-4-5", permissions="accept-edits")
    steps = [
        create("WORKER-A", "a.txt"), create("WORKER-B", "b.txt"),
        tool("mcp__ao__list_agents", {}), text("Two workers started; waiting."),
        # one turn per completion message: look, then say so
        tool("mcp__ao__list_agents", {}), text("Noted."),
        tool("mcp__ao__list_agents", {}), text("Both tasks completed."),
    ]  # fmt: skip
    h.fake.route(ORCH, *steps)  # first: its conversation quotes the workers' markers
    for marker, name in (("WORKER-A", "a.txt"), ("WORKER-B", "b.txt")):
        h.fake.route(marker, write_file(name, f"{marker}\n"), text(f"{marker} done."))
    watcher = start_watcher(h)
    try:
        orch = orchestrate(h)
        rows = wait_for(lambda: len(tasks(h)) == 2 and tasks(h), 180, "two tasks")
        assert isinstance(rows, list)
        assert {row["parent"] for row in rows} == {orch}  # AO_SESSION_ID reached `ao mcp`
        listed = h.ok("status")
        assert isinstance(listed, list) and listed[0]["id"] == orch  # listed first
        assert [r["role"] for r in listed[1:]] == [None, None]

        def all_completed() -> list[dict[str, t.Any]] | None:
            rows = tasks(h)
            return rows if all(r["state"] == "completed" for r in rows) else None

        done = wait_for(all_completed, 240, "both tasks to complete")
        assert isinstance(done, list)
        for row in done:
            marker = row["goal"].split(":")[0]
            name = "a.txt" if marker == "WORKER-A" else "b.txt"
            assert row["attempts"] == 1 and row["result"]["branch"] == f"ao/{row['session']}"
            assert worktree_file(h, row["session"], name) == f"{marker}\n"
        # each completion reached the orchestrator as a message; its last list_agents
        # (the turn after the second message) shows both tasks completed
        wait_for(lambda: h.fake.turns_served(ORCH) >= len(steps), 180,
                 "the orchestrator's last turn")  # fmt: skip
        convo = h.fake.main_requests(ORCH)[-1].text()
        for row in done:
            assert f"[ao] {row['id']} ({row['session']}) completed" in convo
        final = last_tool_result(h)
        states = {s["task"]["id"]: s["task"]["state"] for s in final["sessions"] if s.get("task")}
        assert states == {row["id"]: "completed" for row in done}, final
    finally:
        watcher.terminate()
        watcher.wait(10)


def test_a_failed_verification_goes_back_to_the_worker_and_the_orchestrator_hears(
    claude: Harness,
) -> None:
    h = claude
    h.configure("claude-code", model="claude-sonnet-4-5", permissions="accept-edits")
    steps = [
        create("WORKER-C", "c.txt"), text("Delegated; waiting."),
        text("Noted the failure."),  # "[ao] task-1 (...): verification failed (attempt 1 of 3)"
        tool("mcp__ao__list_agents", {}), text("Done."),  # "[ao] task-1 (...) completed"
    ]  # fmt: skip
    h.fake.route(ORCH, *steps)
    h.fake.route(
        "WORKER-C",
        write_file("c.txt", "wrong\n"), text("C done."),  # fails: c.txt is not "WORKER-C"
        write_file("c.txt", "WORKER-C\n"), text("C fixed."),
    )  # fmt: skip
    watcher = start_watcher(h)
    try:
        orchestrate(h)
        done = wait_for(
            lambda: (rows := tasks(h)) and rows[0]["state"] == "completed" and rows, 300,
            "the task to complete after a retry",
        )  # fmt: skip
        assert isinstance(done, list)
        (row,) = done
        assert row["attempts"] == 2
        assert worktree_file(h, row["session"], "c.txt") == "WORKER-C\n"
        worker = [r.text() for r in h.fake.main_requests("WORKER-C")]
        assert any("Verification of your task failed (attempt 1 of 3)" in c for c in worker)
        wait_for(lambda: h.fake.turns_served(ORCH) >= len(steps), 180,
                 "the orchestrator's last turn")  # fmt: skip
        convo = h.fake.main_requests(ORCH)[-1].text()
        assert f"[ao] {row['id']} ({row['session']}): verification failed (attempt 1 of 3)" in convo
        assert f"[ao] {row['id']} ({row['session']}) completed" in convo
    finally:
        watcher.terminate()
        watcher.wait(10)


def test_codex_as_orchestrator_delegates_a_verified_task(codex: Harness) -> None:
    """The same with Codex: ao's MCP server reaches it through `-c mcp_servers.ao.…`."""
    h = codex
    h.configure("codex", permissions="auto")
    steps = [create("WORKER-D", "d.txt"), text("Delegated; waiting."),
             tool("mcp__ao__list_agents", {}), text("Done.")]  # fmt: skip
    h.fake.route(ORCH, *steps)
    h.fake.route("WORKER-D", write_file("d.txt", "WORKER-D\n"), text("D done."))
    watcher = start_watcher(h)
    try:
        orch = orchestrate(h)

        def completed() -> list[dict[str, t.Any]] | None:
            rows = tasks(h)
            return rows if rows and rows[0]["state"] == "completed" else None

        (row,) = t.cast(list[dict[str, t.Any]], wait_for(completed, 240, "the task"))
        assert row["parent"] == orch and row["agent"] == "codex"
        assert worktree_file(h, row["session"], "d.txt") == "WORKER-D\n"
        wait_for(lambda: h.fake.turns_served(ORCH) >= len(steps), 180,
                 "the orchestrator's last turn")  # fmt: skip
        convo = h.fake.main_requests(ORCH)[-1].text()
        assert f"[ao] {row['id']} ({row['session']}) completed" in convo
    finally:
        watcher.terminate()
        watcher.wait(10)


@pytest.mark.usefixtures("gemini")  # the harness, pointed at the fake Gemini API
def test_gemini_as_orchestrator_delegates_a_verified_task(harness: Harness) -> None:
    """The same with Gemini CLI, orchestrator and worker: ao's MCP server reaches it through
    ``mcpServers.ao`` (trusted) in its session home's settings; the scripted
    ``mcp__ao__create_task`` becomes the ``mcp_ao_create_task`` the CLI offers."""
    h = harness
    gem: FakeGemini = h.gem  # type: ignore[attr-defined]
    h.configure("gemini", permissions="auto")
    steps = [create("WORKER-E", "e.txt"), text("Delegated; waiting."),
             tool("mcp__ao__list_agents", {}), text("Done.")]  # fmt: skip
    gem.route(ORCH, *steps)
    gem.route("WORKER-E", write_file("e.txt", "WORKER-E\n"), text("E done."))
    watcher = start_watcher(h)
    try:
        orch = orchestrate(h)

        def completed() -> list[dict[str, t.Any]] | None:
            rows = tasks(h)
            return rows if rows and rows[0]["state"] == "completed" else None

        (row,) = t.cast(list[dict[str, t.Any]], wait_for(completed, 240, "the task"))
        assert row["parent"] == orch and row["agent"] == "gemini"  # AO_SESSION_ID reached it
        assert worktree_file(h, row["session"], "e.txt") == "WORKER-E\n"
        # the tool's result came back as a functionResponse of the name the CLI offered
        first = gem.main_requests(ORCH)[1].body["contents"][-1]["parts"][0]
        assert first["functionResponse"]["name"] == "mcp_ao_create_task", first
        wait_for(lambda: gem.turns_served(ORCH) >= len(steps), 180,
                 "the orchestrator's last turn")  # fmt: skip
        convo = gem.main_requests(ORCH)[-1].text()
        assert f"[ao] {row['id']} ({row['session']}) completed" in convo
    finally:
        watcher.terminate()
        watcher.wait(10)
