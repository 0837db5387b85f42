"""Tasks end to end: real tmux, real git, a real pytest as the verification.

The agent is `tests/fixtures/worker.py` (the shell agent's command), a scripted stand-in
that writes files per turn, so each scenario controls exactly what the "fix" is: the
point here is ao's side (state, verification, feedback, retries, parent messages). The
same flow with real agent CLIs is in tests/agents/test_delegation.py.
"""

from __future__ import annotations

import json
import sys
import typing as t
from pathlib import Path

import pytest

from ao.store.tasks import TaskRecord, TaskState, TaskStore, parse, to_kv
from tests.conftest import git
from tests.sessionkit import Project, wait_for

WORKER = Path(__file__).parent / "fixtures" / "worker.py"
BROKEN = "def add(a, b):\n    return a - b\n"
FIXED = "def add(a, b):\n    return a + b\n"
STILL_BROKEN = "def add(a, b):\n    return a * b\n"


def setup_worker(
    proj: Project, scripts: dict[str, list[dict[str, object]]], **project: object
) -> Path:
    """A repo whose test fails, and the worker as its agent; returns the workers' log dir."""
    (proj.repo / "calc.py").write_text(BROKEN)
    (proj.repo / "test_calc.py").write_text(
        "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
    )
    git(proj.repo, "add", ".")
    git(proj.repo, "commit", "-q", "-m", "add calc with a bug")
    git(proj.repo, "push", "-q", "origin", "main")
    scripts_file = proj.repo.parent / "scripts.json"
    scripts_file.write_text(json.dumps(scripts))
    logs = proj.repo.parent / "worker-logs"
    logs.mkdir()
    proj.configure(
        agent_command=[sys.executable, str(WORKER), str(scripts_file), str(logs)],
        shell_options={"readyPattern": r"READY>\s*$", "questionPattern": r"\[y/n\]\s*$"},
        **project,
    )
    return logs


def inputs(logs: Path, session: str) -> list[str]:
    """What the worker of ``session`` was sent, in order."""
    path = logs / f"{session}.jsonl"
    return (
        [json.loads(line)["text"] for line in path.read_text().splitlines()]
        if path.exists()
        else []
    )


def all_events(proj: Project) -> list[dict[str, t.Any]]:
    r = proj.ao("events", "--lines", "1000", "--json")
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def task_events(proj: Project) -> list[str]:
    return [e["type"] for e in all_events(proj) if str(e["type"]).startswith("task.")]


def test_a_task_completes_only_once_its_verification_passes(proj: Project) -> None:
    logs = setup_worker(proj, {"FIX-ADD": [{"write": {"calc.py": FIXED}}]})
    r = proj.ao("task", "create", "FIX-ADD: make test_add pass", "--verify",
                f"{sys.executable} -m pytest -q -p no:cacheprovider", "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    created = json.loads(r.stdout)["data"]
    assert created["id"] == "task-1"
    assert created["state"] in ("running", "pending")
    session = created["session"]
    # the worker got the goal verbatim (the shell agent's task is never decorated)
    assert inputs(logs, session) == ["FIX-ADD: make test_add pass"]
    r = proj.ao("task", "wait", "task-1", "--timeout", "90", "--json", timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    done = json.loads(r.stdout)["data"]
    # the v1 task object (docs/cli.md): adding keys is allowed, removing or renaming is not
    assert set(done) == {
        "id", "project", "goal", "state", "session", "agent", "parent", "verify", "attempts",
        "maxAttempts", "question", "reason", "output", "result", "createdAt", "stateSince",
    }  # fmt: skip
    assert set(done["result"]) == {"summary", "branch", "commits", "pr"}
    assert done["state"] == "completed"
    assert done["attempts"] == 1
    assert done["result"]["branch"] == f"ao/{session}"
    assert done["result"]["summary"] == "1 verify command passed"
    worktree = Path(proj.ao_json("status", session)["worktree"])  # type: ignore[index]
    assert (worktree / "calc.py").read_text() == FIXED
    types = task_events(proj)
    assert types[0] == "task.created"
    assert types[-2:] == ["task.verifying", "task.completed"]


def test_a_failed_verification_goes_back_to_the_agent_and_the_retry_completes(
    proj: Project,
) -> None:
    logs = setup_worker(proj, {"FIX-ADD": [{"write": {"calc.py": STILL_BROKEN}},
                                           {"write": {"calc.py": FIXED}}]})  # fmt: skip
    r = proj.ao("task", "create", "FIX-ADD please", "--verify",
                f"{sys.executable} -m pytest -q -p no:cacheprovider", "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    session = json.loads(r.stdout)["data"]["session"]
    r = proj.ao("task", "wait", "task-1", "--timeout", "120", "--json", timeout=150)
    assert r.returncode == 0, r.stdout + r.stderr
    done = json.loads(r.stdout)["data"]
    assert done["state"] == "completed"
    assert done["attempts"] == 2
    sent = inputs(logs, session)
    assert len(sent) == 2
    feedback = sent[1]
    assert "Verification of your task failed (attempt 1 of 3)" in feedback
    assert "pytest -q" in feedback and "assert 6 == 5" in feedback  # the real failure output
    types = task_events(proj)
    assert types.count("task.verifying") == 2
    assert "task.verify_failed" in types
    assert types[-1] == "task.completed"


def test_a_task_fails_after_max_attempts_and_a_human_is_notified(proj: Project) -> None:
    setup_worker(proj, {"FIX-ADD": [{"write": {"calc.py": STILL_BROKEN}}]},
                 top={"tasks": {"maxAttempts": 2}})  # fmt: skip
    r = proj.ao("task", "create", "FIX-ADD", "--verify", f"{sys.executable} -m pytest -q")
    assert r.returncode == 0, r.stderr
    r = proj.ao("task", "wait", "task-1", "--timeout", "120", timeout=150)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "task-1  failed" in r.stdout
    assert "verification failed 2 times" in r.stdout
    assert "assert 6 == 5" in r.stdout  # the last verification output is shown
    notes = [e for e in all_events(proj) if e["type"] == "notification"]
    assert any(e["data"]["reaction"] == "task-failed" and e["priority"] == "urgent" for e in notes)


def test_a_question_makes_the_task_need_input_until_answered(proj: Project) -> None:
    logs = setup_worker(proj, {"ASK": [{"ask": "Overwrite calc.py?"},
                                       {"write": {"calc.py": FIXED}}]})  # fmt: skip
    r = proj.ao("task", "create", "ASK first", "--verify", f"{sys.executable} -m pytest -q",
                "--json")  # fmt: skip
    session = json.loads(r.stdout)["data"]["session"]

    def state() -> dict[str, object]:
        proj.ao("watch", "--once")
        return proj.ao_json("task", "show", "task-1")  # type: ignore[return-value]

    asked = wait_for(lambda: (s := state())["state"] == "needs_input" and s, 60, "needs_input")
    assert "Overwrite calc.py? [y/n]" in str(asked["question"])  # type: ignore[index]
    assert "Overwrite calc.py?" in proj.ao("task", "show", "task-1").stdout
    assert proj.ao("send", session, "y").returncode == 0
    r = proj.ao("task", "wait", "task-1", "--timeout", "90", "--json", timeout=120)
    assert json.loads(r.stdout)["data"]["state"] == "completed", r.stdout
    assert json.loads(r.stdout)["data"]["question"] is None
    assert inputs(logs, session)[1] == "y"


def test_cancel_stops_the_session_and_keeps_its_work(proj: Project) -> None:
    setup_worker(proj, {"SLOW": [{"write": {"calc.py": FIXED}}]})
    r = proj.ao("task", "create", "SLOW", "--verify", "false", "--json")
    session = json.loads(r.stdout)["data"]["session"]
    r = proj.ao("task", "cancel", "task-1", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)["data"]
    assert data["state"] == "cancelled" and data["reason"] == "cancelled by the user"
    listed = proj.ao_json("list")
    assert session not in json.dumps(listed)
    # a cancelled task never moves again
    proj.ao("watch", "--once")
    assert proj.ao_json("task", "show", "task-1")["state"] == "cancelled"  # type: ignore[index]


def test_the_delegating_session_is_told_of_the_outcome(proj: Project) -> None:
    logs = setup_worker(proj, {"FIX-ADD": [{"write": {"calc.py": FIXED}}]})
    r = proj.ao("new", "BOSS: I delegate", "--json")
    boss = json.loads(r.stdout)["data"]["id"]
    from ao.api import Orchestrator

    api = Orchestrator(cwd=proj.repo.parent)
    task = api.create_task("FIX-ADD now", verify=[[sys.executable, "-m", "pytest", "-q"]],
                           requested_by=boss)  # fmt: skip
    assert task.parent == boss
    done = api.wait_task(task.id, timeout=90)
    assert done.state == "completed"
    told = wait_for(lambda: [m for m in inputs(logs, boss) if m.startswith("[ao] task-1")], 30,
                    "the completion message")  # fmt: skip
    assert told == [f"[ao] task-1 ({task.session}) completed; branch ao/{task.session}."]


def test_bad_verify_input_is_a_clear_error(proj: Project) -> None:
    r = proj.ao("task", "create", "x", "--verify", "pytest 'unclosed")
    assert r.returncode == 2
    assert "invalid verify command" in r.stderr
    r = proj.ao("task", "show", "nope")
    assert r.returncode == 2 and "task ids look like task-3" in r.stderr
    r = proj.ao("task", "show", "task-9")
    assert r.returncode == 4 and "no task 'task-9'" in r.stderr
    proj.configure(verify=[[]])
    r = proj.ao("task", "list")
    assert r.returncode == 3 and "verify" in r.stderr


def test_the_task_record_round_trips_and_keeps_unknown_keys(tmp_path: Path) -> None:
    from ao.store.paths import ProjectPaths

    (tmp_path / "c.yaml").write_text("")
    store = TaskStore(ProjectPaths(tmp_path / "c.yaml", "p", home=tmp_path / "home"))
    task = store.create(goal="g\nline two", verify=(("pytest", "-q"), ("ruff", "check", ".")),
                        session="p-1")  # fmt: skip
    assert task.id == "task-1" and store.create(goal="h").id == "task-2"
    raw = store.dir / "task-1"
    raw.write_text(raw.read_text() + "future_key=kept\nattempts=abc\n")
    back = store.read("task-1")
    assert back.goal == "g\nline two" and back.verify == (("pytest", "-q"), ("ruff", "check", "."))
    assert back.extra == {"future_key": "kept", "attempts": "abc"} and back.attempts == 0
    moved = store.update("task-1", state=TaskState.RUNNING, commits=("abc fix",))
    assert moved.state_since is not None and moved.commits == ("abc fix",)
    assert "future_key=kept" in raw.read_text()
    assert parse(to_kv(moved), "task-1") == moved
    assert isinstance(store.list()[0], TaskRecord) and [t.id for t in store.list()] == [
        "task-1",
        "task-2",
    ]


@pytest.mark.parametrize("verify", [["pytest -q"], [["ruff", "check", "."]]])
def test_project_verify_accepts_strings_and_argv(tmp_path: Path, verify: list[object]) -> None:
    from ao.config.models import ProjectConfig

    cfg = ProjectConfig.model_validate({"path": str(tmp_path), "verify": verify})
    assert all(isinstance(c, list) and c for c in cfg.verify)


def test_orchestrate_refuses_an_agent_without_mcp_before_making_anything(proj: Project) -> None:
    r = proj.ao("orchestrate", "plan it", "--agent", "shell")
    assert r.returncode == 2, r.stderr
    assert "cannot be given MCP tools" in r.stderr and "--agent" in r.stderr
    assert proj.ao_json("list", "--all") == []  # no session, record or worktree made
    assert "ao/d-orchestrator" not in git(proj.repo, "branch", "--list")
