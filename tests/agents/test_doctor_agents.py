"""``ao doctor --agents``: the JSON contract, skipping, and the real CLIs end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ao_plugins.runtime_tmux import socket_file

from ao.selftest.run import NOT_SUPPORTED, STEPS, AgentResult, StepResult
from tests.conftest import RunAo

from .conftest import require_cli

AGENT_KEYS = {"agent", "binary", "path", "version", "verdict", "detail", "seconds", "steps"}
STEP_KEYS = {"name", "status", "seconds", "detail"}


def test_json_contract_of_a_result() -> None:
    result = AgentResult("codex", "codex", "/bin/codex", "0.169.0", "failed", "working: no")
    result.steps.append(StepResult("ready", "ok", 2.345, "ready [native:rollout] turn complete"))
    doc = result.to_json()
    assert set(doc) == AGENT_KEYS
    assert doc["steps"] == [{"name": "ready", "status": "ok", "seconds": 2.3,
                             "detail": "ready [native:rollout] turn complete"}]  # fmt: skip


def test_agents_not_installed_are_skipped(ao: RunAo, tmp_path: Path) -> None:
    """With no agent CLI on PATH every agent is skipped and the doctor succeeds."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    r = ao("doctor", "--agents", "--json", env={"PATH": str(empty)})
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["v"] == 1
    rows = {row["agent"]: row for row in doc["data"]}
    assert {"claude-code", "codex", "gemini", "opencode", "aider", "pi"} <= set(rows)
    for row in rows.values():
        assert set(row) == AGENT_KEYS
        assert row["verdict"] == "skipped" and row["steps"] == []
    assert rows["codex"]["detail"] == "not installed (`codex` not on PATH)"
    assert rows["cursor"]["detail"] == NOT_SUPPORTED
    assert rows["kimicode"]["detail"] == "not installed (`kimi` not on PATH)"


def test_one_agent_and_plain_output(ao: RunAo, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    r = ao("doctor", "--agent", "shell", env={"PATH": str(empty)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"SKIP  shell: {NOT_SUPPORTED}"
    assert r.stderr == ""  # no spinner on a pipe


def test_unknown_agent_is_an_error(ao: RunAo) -> None:
    r = ao("doctor", "--agent", "nope", "--json")
    assert r.returncode != 0
    assert "no agent plugin named 'nope'" in r.stderr


@pytest.mark.agents
@pytest.mark.tmux
@pytest.mark.slow
@pytest.mark.timeout(400)
def test_doctor_checks_claude_and_codex(ao: RunAo, tmp_path: Path) -> None:
    """The real CLIs against the scripted model: every step passes, in order."""
    require_cli("claude")
    require_cli("codex")
    tmux_dir = socket_file("x").parent
    sockets = set(tmux_dir.glob("ao-doctor-*"))
    r = ao("doctor", "--agents", "--agent", "claude-code", "--agent", "codex", "--json",
           cwd=tmp_path, timeout=380)  # fmt: skip
    assert set(tmux_dir.glob("ao-doctor-*")) == sockets  # its private tmux server is gone
    doc = json.loads(r.stdout)
    assert r.returncode == 0, json.dumps(doc, indent=2) + r.stderr
    assert [row["agent"] for row in doc["data"]] == ["claude-code", "codex"]
    for row in doc["data"]:
        assert row["verdict"] == "ok", row
        assert row["version"]
        assert [s["name"] for s in row["steps"]] == list(STEPS)
        assert all(s["status"] == "ok" for s in row["steps"]), row
        by_name = {s["name"]: s for s in row["steps"]}
        assert by_name["working"]["detail"].startswith("working ")
        assert by_name["needs_input"]["detail"].startswith("needs_input ")


@pytest.mark.agents
@pytest.mark.tmux
@pytest.mark.timeout(200)
def test_doctor_checks_kimi(ao: RunAo, tmp_path: Path) -> None:
    """Kimi Code's shell tool is ``Shell``: the scripted model calls it by that name, and
    its approval panel is read as needs_input and answered."""
    require_cli("kimi")
    r = ao("doctor", "--agents", "--agent", "kimicode", "--json", cwd=tmp_path, timeout=180)
    doc = json.loads(r.stdout)
    assert r.returncode == 0, json.dumps(doc, indent=2) + r.stderr
    (row,) = doc["data"]
    assert row["verdict"] == "ok", row
    by_name = {s["name"]: s for s in row["steps"]}
    assert list(by_name) == list(STEPS)
    assert "Shell is requesting approval" in by_name["needs_input"]["detail"], row
