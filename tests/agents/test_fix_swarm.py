"""`ao fix` end to end with real Claude Code workers: a red repo goes green, no human step.

The generated repo has 8 failing tests and 4 ruff findings (in 3 files, so 3 lint items).
Two pairs of fixes change adjacent lines of one file each (the second of a pair cannot
join the base once the first merged: a conflict), and one fix breaks a test that passed
(its own test passes, so the gate lets it through; the merge queue's full run catches
it). Each worker is real Claude Code against the scripted model, routed by the failure id
in its task; its scripted turns write the fix with its own tools, and when ao sends it
back (a conflict, a regression) its next turn redoes the fix on top of the new base.
`ao watch` runs as a user would run it. The base ends green with every finding fixed,
every merge a fast-forward of a checked commit, no fix lost.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest
import yaml

from tests.agents.conftest import Harness, wait_for
from tests.agents.fakemodel import shell, text
from tests.conftest import git

pytestmark = [pytest.mark.agents, pytest.mark.tmux, pytest.mark.slow, pytest.mark.timeout(900)]

# adjacent one-line functions: two fixes in one file, on neighbouring lines, conflict
PAIR1_BROKEN = "def inc(x): return x - 1\ndef dec(x): return x + 1\n"
PAIR2_BROKEN = "def double(x): return x * 3\ndef half(x): return x * 2\n"
SINGLES = {"a": "x + 1", "b": "x * 10", "c": "-x", "e": "x ** 2"}  # name -> right body
LINT = {
    "lint1.py": "import os\nimport sys\n\nVALUE = 1\n",  # 2 findings: F401 twice
    "lint2.py": "import json\n\nOTHER = 2\n",
    "lint3.py": "import re\n\nLAST = 3\n",
}


def make_red_repo(repo: Path) -> None:
    (repo / "pair1.py").write_text(PAIR1_BROKEN)
    (repo / "pair2.py").write_text(PAIR2_BROKEN)
    for name in SINGLES:
        (repo / f"{name}.py").write_text(f"def {name}(x):\n    return 0\n")
    (repo / "shared.py").write_text("def base():\n    return 1\n")
    for name, body in LINT.items():
        (repo / name).write_text(body)
    tests = repo / "tests"
    tests.mkdir()
    (tests / "test_pairs.py").write_text(
        "from pair1 import dec, inc\nfrom pair2 import double, half\n\n\n"
        "def test_inc():\n    assert inc(1) == 2\n\n\ndef test_dec():\n    assert dec(1) == 0\n\n\n"
        "def test_double():\n    assert double(2) == 4\n\n\ndef test_half():\n    assert half(4) == 2\n"
    )
    singles = "".join(f"from {n} import {n}\n" for n in SINGLES) + "from shared import base\n"
    singles += "".join(f"\n\ndef test_{n}():\n    assert {n}(3) == {eval(b, {'x': 3})}\n"
                       for n, b in SINGLES.items())  # fmt: skip
    singles += "\n\ndef test_shared():\n    assert base() == 1\n"
    (tests / "test_singles.py").write_text(singles)
    (repo / "pyproject.toml").write_text(
        '[tool.ruff]\nline-length = 100\n[tool.ruff.lint]\nselect = ["F"]\n'
    )
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "a red repo")
    git(repo, "push", "-q", "origin", "main")


def write(path: str, content: str) -> t.Any:
    """A turn that rewrites an existing file through the agent's shell tool (Claude Code's
    Write tool refuses a file it has not read)."""
    return shell(f"printf %s {shlex.quote(content)} > {path}")


def fixed_single(name: str) -> str:
    return f"def {name}(x):\n    return {SINGLES[name]}\n"


def commit(message: str) -> str:
    return f"git add -A && git commit -qm {json.dumps(message)}"


def redo_on_main(path: str, content: str) -> t.Any:
    """A turn after a conflict: the fix again, on top of the current main."""
    return shell(f"git reset -q --hard main && printf %s {shlex.quote(content)} > {path} "
                 f"&& {commit('fix again on main')}")  # fmt: skip


def script(h: Harness) -> None:
    both1 = "def inc(x): return x + 1\ndef dec(x): return x - 1\n"
    both2 = "def double(x): return x * 2\ndef half(x): return x // 2\n"
    routes: dict[str, list[t.Any]] = {
        "test_pairs.py::test_inc": [write("pair1.py", PAIR1_BROKEN.replace("x - 1", "x + 1")),
                                    text("inc fixed"), redo_on_main("pair1.py", both1), text("again")],
        "test_pairs.py::test_dec": [write("pair1.py", PAIR1_BROKEN.replace("x + 1", "x - 1")),
                                    text("dec fixed"), redo_on_main("pair1.py", both1), text("again")],
        "test_pairs.py::test_double": [write("pair2.py", PAIR2_BROKEN.replace("x * 3", "x * 2", 1)),
                                       text("double fixed"), redo_on_main("pair2.py", both2), text("again")],
        "test_pairs.py::test_half": [write("pair2.py", PAIR2_BROKEN.replace("return x * 2", "return x // 2")),
                                     text("half fixed"), redo_on_main("pair2.py", both2), text("again")],
        # its fix breaks test_shared; sent back, it restores shared.py
        "test_singles.py::test_e": [write("e.py", fixed_single("e")),
                                    write("shared.py", "def base():\n    return 2\n"), text("e fixed"),
                                    shell(f"git checkout main -- shared.py && {commit('keep base')}"),
                                    text("shared restored")],
    }  # fmt: skip
    for name in ("a", "b", "c"):
        routes[f"test_singles.py::test_{name}"] = [write(f"{name}.py", fixed_single(name)),
                                                   text(f"{name} fixed")]  # fmt: skip
    for name, body in LINT.items():
        clean = "\n".join(line for line in body.splitlines() if not line.startswith("import"))
        routes[name] = [write(name, clean.lstrip("\n") + "\n"), text(f"{name} clean")]
    for marker, steps in routes.items():
        h.fake.route(marker, *steps)


def configure(h: Harness) -> None:
    config = {
        "defaults": {"agent": "claude-code"},
        "projects": {"demo": {
            "path": str(h.repo), "sessionPrefix": "d", "model": "claude-sonnet-4-5",
            "permissions": "bypass",
            "checks": {
                "tests": {"run": [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                          "parser": "pytest"},
                "lint": {"run": [str(Path(sys.executable).with_name("ruff")), "check", "."],
                         "parser": "ruff"},
            },
        }},
    }  # fmt: skip
    (h.repo.parent / "agent-orchestrator.yaml").write_text(yaml.safe_dump(config))


def test_a_red_repo_goes_green_through_the_merge_queue(claude: Harness) -> None:
    h = claude
    make_red_repo(h.repo)
    configure(h)
    script(h)
    plan = h.ok("fix", "--dry-run")
    assert isinstance(plan, dict)
    ids = [item["id"] for item in plan["items"]]
    assert len(ids) == 11, ids  # 8 tests + 3 lint files (4 findings)
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
    assert "9 passed" in tests.stdout  # 8 fixed + test_shared
    lint = subprocess.run([str(Path(sys.executable).with_name("ruff")), "check", "."], cwd=check,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert lint.returncode == 0, lint.stdout
    merged = [item["mergedSha"] for item in done["items"]]
    history = git(check, "rev-list", "--first-parent", "main").split()
    assert all(sha in history for sha in merged)
    assert git(check, "rev-list", "--merges", "main").strip() == ""  # rebased: linear
