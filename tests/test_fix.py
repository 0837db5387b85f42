"""`ao fix` with real tmux, git, pytest and ruff; the agent is the scripted worker
(tests/fixtures/worker.py) so each "fix" is exactly what the test says. The full
acceptance run (conflicts, a regression, real Claude Code workers) is
tests/agents/test_fix_swarm.py."""

from __future__ import annotations

import json
import subprocess
import sys
import typing as t
from pathlib import Path

from tests.conftest import git
from tests.sessionkit import Project, wait_for
from tests.test_tasks import WORKER

RUFF = str(Path(sys.executable).with_name("ruff"))
PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]


def red_repo(
    proj: Project,
    scripts: dict[str, list[dict[str, object]]],
    agent_prefix: tuple[str, ...] = (),
    **top: object,
) -> None:
    (proj.repo / "one.py").write_text("def one():\n    return 0\n")
    (proj.repo / "two.py").write_text("def two():\n    return 0\n")
    (proj.repo / "messy.py").write_text("import os\n\nX = 1\n")
    (proj.repo / "test_nums.py").write_text(
        "from one import one\nfrom two import two\n\n\ndef test_one():\n    assert one() == 1\n"
        "\n\ndef test_two():\n    assert two() == 2\n"
    )
    git(proj.repo, "add", ".")
    git(proj.repo, "commit", "-q", "-m", "red")
    scripts_file = proj.repo.parent / "scripts.json"
    scripts_file.write_text(json.dumps(scripts))
    logs = proj.repo.parent / "worker-logs"
    logs.mkdir(exist_ok=True)
    proj.configure(
        agent_command=[*agent_prefix, sys.executable, str(WORKER), str(scripts_file), str(logs)],
        shell_options={"readyPattern": r"READY>\s*$"},
        checks={"tests": {"run": PYTEST, "parser": "pytest"},
                "lint": {"run": [RUFF, "check", "--select", "F", "."], "parser": "ruff"}},
        top=top,
    )  # fmt: skip


def status(proj: Project) -> dict[str, t.Any]:
    doc = proj.ao_json("fix", "status")
    assert isinstance(doc, dict)
    return doc


def run_to_end(proj: Project) -> dict[str, t.Any]:
    """Watcher passes until the fix run finishes; its final status."""

    def finished() -> dict[str, t.Any] | None:
        proj.ao("watch", "--once", timeout=120)
        doc = status(proj)
        return doc if doc["finished"] else None

    return t.cast(dict[str, t.Any], wait_for(finished, 120, "the run to finish"))


def test_dry_run_plans_one_item_per_test_and_per_file(proj: Project) -> None:
    red_repo(proj, {})
    r = proj.ao("fix", "--dry-run", "--json")
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)["data"]
    # the v1 document (docs/cli.md): adding keys is allowed, removing or renaming is not
    assert set(plan) == {"project", "base", "baseSha", "checks", "jobs", "dryRun", "startedAt",
                         "finished", "checkSeconds", "items"}  # fmt: skip
    assert set(plan["items"][0]) == {
        "id", "check", "state", "failures", "files", "reproduce", "task", "session", "branch",
        "attempts", "reason", "mergedSha", "seconds",
    }  # fmt: skip
    assert (
        plan["dryRun"] is True and plan["base"] == "main" and plan["checks"] == ["lint", "tests"]
    )  # config order
    items = {i["id"]: i for i in plan["items"]}
    assert [i["failures"] for i in plan["items"]] == [
        ["messy.py:1:8:F401"],
        ["test_nums.py::test_one"],
        ["test_nums.py::test_two"],
    ]
    one = next(i for i in items.values() if i["failures"] == ["test_nums.py::test_one"])
    assert one["reproduce"] == [*PYTEST, "test_nums.py::test_one"]
    assert all(i["state"] == "failing" for i in items.values())
    # nothing started, nothing stored, the user's checkout untouched
    assert proj.ao_json("list") == []
    assert proj.ao("fix", "status").stdout.startswith("no fix run")
    assert git(proj.repo, "status", "--porcelain") == ""


def test_verified_fixes_merge_back_one_at_a_time(proj: Project) -> None:
    red_repo(proj, {
        "test_one": [{"write": {"one.py": "def one():\n    return 1\n"}}],
        "test_two": [{"write": {"two.py": "def two():\n    return 2\n"}}],
        "messy.py": [{"write": {"messy.py": "X = 1\n"}}],
    }, fix={"push": True})  # fmt: skip
    r = proj.ao("fix", "-j", "2", "--json", timeout=120)
    assert r.returncode == 0, r.stderr
    started = json.loads(r.stdout)["data"]
    assert "fix (demo): " in proj.ao("status").stdout  # a run under way shows in `ao status`
    assert [i["state"] for i in started["items"]][:2] == ["fixing", "fixing"]
    assert started["items"][2]["state"] == "failing"  # -j 2: waits for a slot

    done = run_to_end(proj)
    assert [i["state"] for i in done["items"]] == ["merged"] * 3, done
    # main moved, by fast-forwards only, to a green commit, and was pushed
    head = git(proj.repo, "rev-parse", "main").strip()
    assert head == done["items"][-1]["mergedSha"]
    assert git(proj.repo, "rev-list", "--merges", "main").strip() == ""
    assert git(proj.repo, "rev-parse", "origin/main").strip() == head
    tests = subprocess.run(PYTEST, cwd=proj.repo, capture_output=True, text=True, timeout=60)
    assert tests.returncode == 0 and "2 passed" in tests.stdout, tests.stdout
    types = [json.loads(line)["type"] for line in
             proj.ao("events", "--lines", "1000", "--json").stdout.splitlines()]  # fmt: skip
    assert types.count("fix.merged") == 3 and types[-1] in ("fix.finished", "notification")
    text = proj.ao("fix", "status").stdout
    assert "finished" in text and text.count("merged") >= 3


def test_an_agent_that_crashes_at_start_is_started_again(proj: Project) -> None:
    """The first worker's agent exits at once (as a CLI racing others for its config
    file can): its item stays `failing` with the reason, the next pass starts it again,
    and every item merges; nobody is called for it."""
    flag = proj.repo.parent / "crashed-once"
    code = (
        f"import os, sys, pathlib; f = pathlib.Path({str(flag)!r})\n"
        "if not f.exists(): f.touch(); sys.exit(1)\nos.execv(sys.argv[1], sys.argv[1:])"
    )
    crash_once = (sys.executable, "-c", code)
    red_repo(proj, {
        "test_one": [{"write": {"one.py": "def one():\n    return 1\n"}}],
        "test_two": [{"write": {"two.py": "def two():\n    return 2\n"}}],
        "messy.py": [{"write": {"messy.py": "X = 1\n"}}],
    }, agent_prefix=crash_once)  # fmt: skip
    r = proj.ao("fix", "-j", "3", "--json", timeout=120)
    assert r.returncode == 0, r.stderr
    assert flag.exists()
    items = json.loads(r.stdout)["data"]["items"]
    crashed = [i for i in items if i["state"] == "failing"]
    assert len(crashed) == 1 and "its agent did not start" in crashed[0]["reason"], [
        (i["state"], i["reason"]) for i in items
    ]

    done = run_to_end(proj)
    assert [i["state"] for i in done["items"]] == ["merged"] * 3, done
    types = [json.loads(line)["type"] for line in
             proj.ao("events", "--lines", "1000", "--json").stdout.splitlines()]  # fmt: skip
    assert "fix.needs_you" not in types


def test_clear_errors(proj: Project) -> None:
    r = proj.ao("fix", "--dry-run")
    assert r.returncode == 3 and "has no checks to fix" in r.stderr and "checks" in r.stderr
    red_repo(proj, {})
    r = proj.ao("fix", "--check", "test")
    assert (
        r.returncode == 2 and "no check 'test'" in r.stderr and "did you mean 'tests'" in r.stderr
    )
    proj.configure(checks={"tests": {"run": "pytest", "parser": "junit"}})
    r = proj.ao("fix", "--dry-run")
    assert r.returncode == 3 and "parser" in r.stderr
