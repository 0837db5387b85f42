"""A generated red repo for `ao fix`, and the scripted fixes of its items.

Shared by the end-to-end test (tests/agents/test_fix_swarm.py) and `make bench`
(bench/fix.py). The repo has 8 failing tests and 4 ruff findings (in 3 files, so 3 lint
items). Two pairs of fixes change adjacent lines of one file each (the second of a pair
cannot join the base once the first merged: a conflict; or, when the second started from
a base that already had the first, its fix undoes the first: a regression), and one fix
breaks a test that passed (its own test passes, so the gate lets it through; the merge
queue's full run catches it). ``script`` routes each worker's conversation (by the
failure id in its task) to turns that write the fix with the agent's own shell tool, and,
when ao sends it back, redo the fix on top of the new base.

Only the standard library, PyYAML and ``ao.selftest``: no pytest, so the bench can import it.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import typing as t
from pathlib import Path

import yaml

from ao.selftest.server import ScriptedServer, Step, shell, text

# adjacent one-line functions: two fixes in one file, on neighbouring lines, conflict
PAIR1_BROKEN = "def inc(x): return x - 1\ndef dec(x): return x + 1\n"
PAIR2_BROKEN = "def double(x): return x * 3\ndef half(x): return x * 2\n"
SINGLES = {"a": "x + 1", "b": "x * 10", "c": "-x", "e": "x ** 2"}  # name -> right body
LINT = {
    "lint1.py": "import os\nimport sys\n\nVALUE = 1\n",  # 2 findings: F401 twice
    "lint2.py": "import json\n\nOTHER = 2\n",
    "lint3.py": "import re\n\nLAST = 3\n",
}
ITEMS = 11  # 8 tests + 3 lint files (4 findings)
PASSING_AFTER = 9  # tests passing once fixed: the 8 + test_shared


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` and return its stdout (raises on failure)."""
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=30
    ).stdout


def init_repo(repo: Path) -> Path:
    """A repo with one commit on ``main`` and a bare ``origin`` next to it (``repo.git``)."""
    origin = repo.with_name(f"{repo.name}.git")
    git(repo.parent, "init", "-q", "--bare", "-b", "main", str(origin))
    git(repo.parent, "init", "-q", "-b", "main", str(repo))
    (repo / "README.md").write_text("# demo\n")
    git(repo, "add", "README.md")
    git(repo, "commit", "-q", "-m", "initial")
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "push", "-q", "-u", "origin", "main")
    return repo


def make_red_repo(repo: Path) -> None:
    """Write the red project into ``repo`` (a git repo with an ``origin``) and push it."""
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
    # as any Python project has: without it, what the gate's pytest run leaves in a
    # worktree (bytecode, unless PYTHONDONTWRITEBYTECODE is set) is committed with the fix
    # and every two fixes conflict on it
    (repo / ".gitignore").write_text("__pycache__/\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "a red repo")
    git(repo, "push", "-q", "origin", "main")


def write(path: str, content: str) -> Step:
    """A turn that rewrites an existing file through the agent's shell tool (Claude Code's
    Write tool refuses a file it has not read)."""
    return shell(f"printf %s {shlex.quote(content)} > {path}")


def fixed_single(name: str) -> str:
    return f"def {name}(x):\n    return {SINGLES[name]}\n"


def commit(message: str) -> str:
    return f"git add -A && git commit -qm {json.dumps(message)}"


def redo_on_main(path: str, content: str) -> Step:
    """A turn after a send-back: the fix again, on top of the current main."""
    return shell(f"git reset -q --hard main && printf %s {shlex.quote(content)} > {path} "
                 f"&& {commit('fix again on main')}")  # fmt: skip


def routes() -> dict[str, list[Step]]:
    """Each item's worker script, by the marker (failure id or file) in its task."""
    both1 = "def inc(x): return x + 1\ndef dec(x): return x - 1\n"
    both2 = "def double(x): return x * 2\ndef half(x): return x // 2\n"
    found: dict[str, list[Step]] = {
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
        found[f"test_singles.py::test_{name}"] = [write(f"{name}.py", fixed_single(name)),
                                                  text(f"{name} fixed")]  # fmt: skip
    for name, body in LINT.items():
        clean = "\n".join(line for line in body.splitlines() if not line.startswith("import"))
        found[name] = [write(name, clean.lstrip("\n") + "\n"), text(f"{name} clean")]
    return found


def script(model: ScriptedServer) -> None:
    """Route every item's worker on ``model`` (a FakeModel) to its scripted fix."""
    for marker, steps in routes().items():
        model.route(marker, *steps)


def checks(python: str = sys.executable) -> dict[str, t.Any]:
    """The project's checks: pytest and ruff, from ``python``'s environment."""
    return {
        "tests": {"run": [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                  "parser": "pytest"},
        "lint": {"run": [str(Path(python).with_name("ruff")), "check", "."], "parser": "ruff"},
    }  # fmt: skip


def configure(repo: Path, **config: t.Any) -> Path:
    """Write ``agent-orchestrator.yaml`` next to ``repo``: project ``demo``, Claude Code
    workers (bypassing permissions) and the checks; ``config`` is merged in at the top."""
    doc: dict[str, t.Any] = {
        "defaults": {"agent": "claude-code"},
        "projects": {"demo": {
            "path": str(repo), "sessionPrefix": "d", "model": "claude-sonnet-4-5",
            "permissions": "bypass", "checks": checks(),
        }},
    }  # fmt: skip
    doc.update(config)
    path = repo.parent / "agent-orchestrator.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def green(repo: Path, where: Path) -> tuple[bool, str]:
    """Clone ``repo``'s main into ``where`` and run the tests and ruff there: (all green,
    the test run's summary)."""
    subprocess.run(["git", "clone", "-q", "-b", "main", str(repo), str(where)], check=True)
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                           cwd=where, capture_output=True, text=True, timeout=120)  # fmt: skip
    lint = subprocess.run([str(Path(sys.executable).with_name("ruff")), "check", "."],
                          cwd=where, capture_output=True, text=True, timeout=60)  # fmt: skip
    summary = (tests.stdout.strip().splitlines() or [""])[-1]
    ok = tests.returncode == 0 and f"{PASSING_AFTER} passed" in tests.stdout
    return ok and lint.returncode == 0, summary
