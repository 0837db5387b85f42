"""`ao agents` (inventory, auth, the `auto` choice) and `ao why` (evidence)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import RunAo
from tests.sessionkit import Project

FAKE_AGENTS = Path(__file__).parent / "fakes" / "fakeagents"


def rows(r: subprocess.CompletedProcess[str]) -> dict[str, dict[str, object]]:
    assert r.returncode == 0, r.stderr
    return {row["name"]: row for row in json.loads(r.stdout)["data"]}


def test_agents_lists_shell_as_the_fallback(ao: RunAo, tmp_path: Path) -> None:
    found = rows(ao("agents", "--json", cwd=tmp_path))
    assert found["shell"]["installed"] is True and found["shell"]["default"] is True


@pytest.mark.parametrize(("strategy", "expected"), [("heuristic", "fake-b"), ("fixed", "fake-a")])
def test_auto_prefers_a_subscription_unless_fixed(
    ao: RunAo, git_repo: Path, monkeypatch: pytest.MonkeyPatch, strategy: str, expected: str
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(FAKE_AGENTS))
    (git_repo / "agent-orchestrator.yaml").write_text(
        yaml.safe_dump({"defaults": {"agentStrategy": strategy}, "projects": {"r": {"path": "."}}})
    )
    found = rows(ao("agents", "--json", cwd=git_repo))
    assert found["fake-a"]["auth"] == "api-key" and found["fake-b"]["auth"] == "subscription"
    assert found["fake-b"]["version"] == "9.9.9"
    assert [n for n, r in found.items() if r["default"]] == [expected]
    start = json.loads(ao("start", "--no-watch", "--json", cwd=git_repo).stdout)["data"]
    assert start["agent"] == expected


def test_why_gives_state_and_evidence(proj: Project) -> None:
    proj.configure(agent_command=["sh", "-c", "echo hi; exec sleep 30"])
    assert proj.ao("new", "").returncode == 0
    data = proj.ao_json("why", "d-1")
    assert isinstance(data, dict)
    assert data["activity"] == "working"
    assert data["evidence"]["source"] == "runtime" and "sleep" in data["evidence"]["detail"]
    text = proj.ao("why", "d-1").stdout
    assert "d-1 is working" in text and "because: foreground process: sleep" in text
