"""`ao fix` end to end with real Claude Code workers: a red repo goes green, no human step.

The generated repo has 8 failing tests and 4 ruff findings (in 3 files, so 3 lint items).
Two pairs of fixes change adjacent lines of one file each (the second of a pair cannot
join the base once the first merged: a conflict), and one fix breaks a test that passed
(its own test passes, so the gate lets it through; the merge queue's full run catches
it). Each worker is real Claude Code against the scripted model, routed by the failure id
in its task; its scripted turns write the fix with its own tools, and when ao sends it
back (a conflict, a regression) its next turn redoes the fix on top of the new base.
`ao watch` runs as a user would run it. The base ends green with every finding fixed,
every merge a fast-forward of a checked commit, no fix lost. The repo and the workers'
scripts are tests/fixkit.py's (`make bench` times the same run: bench/fix.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest

from tests import fixkit
from tests.agents.conftest import Harness, wait_for
from tests.conftest import git

pytestmark = [pytest.mark.agents, pytest.mark.tmux, pytest.mark.slow, pytest.mark.timeout(900)]


def test_a_red_repo_goes_green_through_the_merge_queue(claude: Harness) -> None:
    h = claude
    fixkit.make_red_repo(h.repo)
    fixkit.configure(h.repo)
    fixkit.script(h.fake)
    plan = h.ok("fix", "--dry-run")
    assert isinstance(plan, dict)
    ids = [item["id"] for item in plan["items"]]
    assert len(ids) == fixkit.ITEMS, ids  # 8 tests + 3 lint files (4 findings)
    watcher = subprocess.Popen(
        [sys.executable, "-m", "ao", "watch", "--interval", "1"], cwd=h.repo.parent,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        started = h.ok("fix", "-j", "4", timeout=300)
        assert isinstance(started, dict)
        # 4 started at once (the watcher, running meanwhile, may already have moved on)
        taken = [i for i in started["items"] if i["state"] != "failing"]
        assert len(taken) >= 4, json.dumps(started["items"], indent=1)

        def finished() -> dict[str, t.Any] | None:
            doc = h.ok("fix", "status")
            assert isinstance(doc, dict)
            return doc if doc["finished"] else None

        try:
            done = t.cast(dict[str, t.Any], wait_for(finished, 600, "the fix run to finish"))
        except AssertionError:
            print(json.dumps(h.ok("fix", "status"), indent=1))
            raise
    finally:
        watcher.terminate()
        watcher.wait(10)
    states = {item["id"]: (item["state"], item["reason"]) for item in done["items"]}
    if {s for s, _ in states.values()} != {"merged"}:
        for row in t.cast(list[dict[str, t.Any]], h.ok("task", "list")):
            print(row["id"], row["session"], row["state"], row["reason"], row["output"])
            print(h.ao("logs", str(row["session"]), "-n", "30").stdout)
    assert {s for s, _ in states.values()} == {"merged"}, states
    sent_back = {item["id"]: item["attempts"] for item in done["items"] if item["attempts"]}
    assert any("test-e" in key for key in sent_back), sent_back  # the regression
    assert sum(1 for key in sent_back if "test-inc" in key or "test-dec" in key) == 1, sent_back
    assert sum(1 for key in sent_back if "double" in key or "half" in key) == 1, sent_back
    # the base: green, every fix on it, a linear chain of checked commits
    check = h.repo.parent / "check"
    subprocess.run(["git", "clone", "-q", "-b", "main", str(h.repo), str(check)], check=True)
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                           cwd=check, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert tests.returncode == 0, tests.stdout
    assert f"{fixkit.PASSING_AFTER} passed" in tests.stdout  # 8 fixed + test_shared
    lint = subprocess.run([str(Path(sys.executable).with_name("ruff")), "check", "."], cwd=check,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert lint.returncode == 0, lint.stdout
    merged = [item["mergedSha"] for item in done["items"]]
    history = git(check, "rev-list", "--first-parent", "main").split()
    assert all(sha in history for sha in merged)
    assert git(check, "rev-list", "--merges", "main").strip() == ""  # rebased: linear
