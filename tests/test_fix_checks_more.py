"""``ao fix``'s checks, continued: the ruff, mypy, eslint and generic parsers against the
real tools, timeouts, bad input, and how failures are planned into work items.
tests/test_fix_checks.py has the pytest parser and the gate."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ao.fix.checks import PARSERS, CheckRun, Failure, WorkItem, gate, plan, run_check
from ao.sdk.errors import CommandError, NotFoundError, UsageError
from tests.test_fix_checks import (  # noqa: F401  (quick_pytest: the same autouse fixture)
    ESLINT,
    MYPY,
    PY,
    RUFF,
    needs_eslint,
    quick_pytest,
    run,
    write,
)

RUFF_REPO = {
    "ruff.toml": 'lint.select = ["F"]\n',
    "src/app.py": "import os\nimport sys\n\n\ndef f():\n    unused = 1\n",
    "src/util.py": "import json\n",
    "src/clean.py": "X = 1\n",
}


def test_ruff_findings_are_grouped_per_file(tmp_path: Path) -> None:
    repo = write(tmp_path, RUFF_REPO)
    result = run_check("lint", [RUFF, "check", "--config", "ruff.toml", "src"], "ruff", repo, 60)

    assert result.exit_code == 1
    assert result.argv[-1] == "--output-format=json"
    assert [f.id for f in result.failures] == [
        "src/app.py:1:8:F401", "src/app.py:2:8:F401", "src/app.py:6:5:F841", "src/util.py:1:8:F401",
    ]  # fmt: skip
    first = result.failures[0]
    assert (first.file, first.line, first.message) == (
        "src/app.py",
        1,
        "F401 `os` imported but unused",
    )
    assert "src/app.py:1:8: F401" in first.output and "unused-import" in first.output
    # the path argument is narrowed to the file; the config option's value is no path
    assert first.reproduce == (RUFF, "check", "--config", "ruff.toml", "src/app.py")
    assert "src/util.py:1:8: F401" in result.output

    items = plan([result])
    assert [(i.id, i.parser, i.files, len(i.failures)) for i in items] == [
        ("lint-src-app-py", "ruff", ("src/app.py",), 3),
        ("lint-src-util-py", "ruff", ("src/util.py",), 1),
    ]
    app, util = items
    repro = run(app.reproduce, repo)
    assert repro.returncode == 1 and "src/app.py" in repro.stdout
    assert "util.py" not in repro.stdout

    reason = gate(app, repo, 30)
    assert reason is not None and "3 finding(s) left in src/app.py" in reason
    write(repo, {"src/app.py": "import os\n\n\ndef f():\n    return os.sep\n"})
    assert gate(app, repo, 30) is None
    assert gate(util, repo, 30) is not None  # its own file is not fixed yet
    write(repo, {"ruff.toml": "lint.select = [\n"})  # ruff cannot even start
    reason = gate(app, repo, 30)
    assert reason is not None and "does not pass: it exits 2." in reason


def test_ruff_without_path_arguments_gets_the_file(tmp_path: Path) -> None:
    repo = write(tmp_path, RUFF_REPO)
    result = run_check("lint", [RUFF, "check", "--output-format=concise"], "ruff", repo, 60)
    assert result.argv == (RUFF, "check", "--output-format=json")
    assert {f.reproduce for f in result.failures} == {
        (RUFF, "check", "--output-format=concise", "src/app.py"),
        (RUFF, "check", "--output-format=concise", "src/util.py"),
    }
    item = plan([result])[0]
    assert gate(item, repo, 30) is not None


def test_mypy_findings_per_file_and_the_gate_of_one_file(tmp_path: Path) -> None:
    repo = write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": """
            def f(x: int) -> str:
                return x
        """,
        "pkg/b.py": """
            from pkg.a import f

            y: int = f(1)
        """,
    })  # fmt: skip
    result = run_check("types", [*MYPY, "--strict", "pkg"], "mypy", repo, 60)

    assert result.exit_code == 1
    assert [(f.id, f.file, f.line) for f in result.failures] == [
        ("pkg/a.py:2:return-value", "pkg/a.py", 2),
        ("pkg/b.py:3:assignment", "pkg/b.py", 3),
    ]
    a = result.failures[0]
    assert a.message == (
        'Incompatible return value type (got "int", expected "str") [return-value]'
    )
    assert a.output.startswith("pkg/a.py:2: error: Incompatible return value type")
    assert a.reproduce == (*MYPY, "--strict", "pkg/a.py")
    items = plan([result])
    assert [(i.id, i.files) for i in items] == [
        ("types-pkg-a-py", ("pkg/a.py",)),
        ("types-pkg-b-py", ("pkg/b.py",)),
    ]
    item_a, item_b = items
    assert run(item_a.reproduce, repo).returncode == 1

    # (another size: mypy's cache trusts a file of the same size and mtime second)
    write(repo, {"pkg/b.py": "from pkg.a import f\n\nvalue: str = f(1)\n"})
    # b is fixed: mypy on b still reports a (which b imports), another item's finding
    assert run(item_b.reproduce, repo).returncode == 1
    assert gate(item_b, repo, 60) is None
    reason = gate(item_a, repo, 60)
    assert reason is not None and "1 finding(s) left in pkg/a.py: line 2:" in reason


def test_mypy_that_cannot_run_is_a_generic_failure(tmp_path: Path) -> None:
    result = run_check("types", [*MYPY, "missing.py"], "mypy", tmp_path, 60)
    assert result.exit_code == 2
    [failure] = result.failures
    assert failure.id == "types" and "Cannot read file" in failure.output


@needs_eslint
def test_eslint_errors_are_grouped_per_file(tmp_path: Path) -> None:
    repo = write(tmp_path, {
        "eslint.config.js": """
            module.exports = [{
              rules: { "no-unused-vars": "error", "eqeqeq": "error", "no-console": "warn" },
            }];
        """,
        "src/app.js": "const a = 1;\nif (process.argv == 2) { console.log(1); }\n",
        "src/bad.js": "function (\n",
        "src/warn.js": "console.log(2);\n",
    })  # fmt: skip
    result = run_check("js", [ESLINT, "-f", "stylish", "src"], "eslint", repo, 60)

    assert result.exit_code == 1
    assert result.argv == (ESLINT, "src", "-f", "json")
    # warnings do not fail the run: only errors are work
    assert [f.id for f in result.failures] == [
        "src/app.js:1:7:no-unused-vars", "src/app.js:2:18:eqeqeq", "src/bad.js:1:10:fatal",
    ]  # fmt: skip
    unused = result.failures[0]
    assert unused.message == "'a' is assigned a value but never used. (no-unused-vars)"
    assert unused.reproduce == (ESLINT, "-f", "stylish", "src/app.js")
    items = plan([result])
    assert [(i.id, i.parser, i.files) for i in items] == [
        ("js-src-app-js", "eslint", ("src/app.js",)),
        ("js-src-bad-js", "eslint", ("src/bad.js",)),
    ]
    repro = run(items[0].reproduce, repo)
    assert repro.returncode == 1 and "app.js" in repro.stdout and "bad.js" not in repro.stdout

    assert gate(items[0], repo, 60) is not None
    write(repo, {"src/app.js": "if (process.argv === 2) { console.log(1); }\n"})
    assert gate(items[0], repo, 60) is None  # its warning is left, and passes

    # with --max-warnings the warnings fail the run, so they are the work
    warned = run_check("js", [ESLINT, "--max-warnings", "0", "src/warn.js"], "eslint", repo, 60)
    assert [f.id for f in warned.failures] == ["src/warn.js:1:1:no-console"]


def test_generic_checks_read_the_exit_status(tmp_path: Path) -> None:
    repo = write(tmp_path, {
        "check.py": """
            import pathlib, sys
            if not pathlib.Path("fixed").exists():
                print("\\x1b[31mbuild broke\\x1b[0m " + "x" * 9000)
                sys.exit(3)
        """,
    })  # fmt: skip
    result = run_check("build", [PY, "check.py"], "generic", repo, 60)

    assert result.exit_code == 3
    [failure] = result.failures
    assert (failure.check, failure.id, failure.file, failure.line) == ("build", "build", None, None)
    assert failure.message == "`build` failed (exit 3)"
    assert "build broke" in failure.output and "\x1b" not in failure.output
    assert len(failure.output) <= 4000
    assert failure.reproduce == (PY, "check.py")
    [item] = plan([result])
    assert (item.id, item.parser, item.reproduce) == ("build", "generic", (PY, "check.py"))

    reason = gate(item, repo, 30)
    assert reason is not None and reason.startswith(f"`{PY} check.py` does not pass: it exits 3.")
    (repo / "fixed").touch()
    assert gate(item, repo, 30) is None
    assert run_check("build", [PY, "check.py"], "generic", repo, 60).failures == ()

    probe = [PY, "-c", "import os, sys; sys.exit(os.environ.get('AO_FIX_PROBE') != '1')"]
    assert run_check("env", probe, "generic", repo, 30).exit_code == 1
    assert run_check("env", probe, "generic", repo, 30, env={"AO_FIX_PROBE": "1"}).exit_code == 0


def test_a_check_that_outlives_its_timeout_is_killed_with_its_children(tmp_path: Path) -> None:
    script = """
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open("child.pid", "w").write(str(child.pid))
        print("started", flush=True)
        time.sleep(60)
    """
    repo = write(tmp_path, {"slow.py": script})
    began = time.monotonic()
    result = run_check("slow", [PY, "slow.py"], "generic", repo, 2)

    assert time.monotonic() - began < 30
    assert result.exit_code == -9
    [failure] = result.failures
    assert failure.id == "slow" and failure.message == "`slow` timed out after 2s"
    assert "started" in failure.output and "started" in result.output
    pid = int((repo / "child.pid").read_text())
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid)

    [item] = plan([result])
    reason = gate(item, repo, 0.5)
    assert reason is not None and "did not finish within 0.5s" in reason


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie is dead, only not yet reaped


def test_unknown_parser_and_missing_program(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as unknown:
        run_check("lint", ["flake8"], "flake8", tmp_path, 10)
    assert "'flake8'" in str(unknown.value)
    assert unknown.value.hint == "use one of: " + ", ".join(PARSERS)
    assert PARSERS == ("pytest", "ruff", "eslint", "mypy", "generic")

    with pytest.raises(CommandError) as missing:
        run_check("lint", ["no-such-linter-ao", "."], "generic", tmp_path, 10)
    assert "no-such-linter-ao" in str(missing.value)
    with pytest.raises(UsageError):
        run_check("lint", [], "generic", tmp_path, 10)
    with pytest.raises(NotFoundError):
        run_check("lint", [PY, "-V"], "generic", tmp_path / "gone", 10)


def test_plan_orders_items_makes_unique_ids_and_keeps_max_items(tmp_path: Path) -> None:
    repo = write(tmp_path, {
        "ruff.toml": 'lint.select = ["F"]\n',
        "src/a_b.py": "import os\n",
        "src/a-b.py": "import sys\n",
        "src/z.py": "import json\n",
        "fail.py": "raise SystemExit(1)\n",
    })  # fmt: skip
    build = run_check("build", [PY, "fail.py"], "generic", repo, 30)
    lint = run_check("lint", [RUFF, "check", "src"], "ruff", repo, 30)
    again = run_check("lint", [RUFF, "check", "src/z.py"], "ruff", repo, 30)

    items = plan([build, lint, again])
    assert [(i.id, i.files) for i in items] == [
        ("build", ()),
        ("lint-src-a-b-py", ("src/a-b.py",)),
        ("lint-src-a-b-py-2", ("src/a_b.py",)),
        ("lint-src-z-py", ("src/z.py",)),
        ("lint-src-z-py-2", ("src/z.py",)),
    ]
    assert all(i.id.replace("-", "").isalnum() and i.id == i.id.lower() for i in items)
    assert plan([build, lint, again], max_items=2) == items[:2]
    assert plan([build, lint, again], max_items=0) == []
    with pytest.raises(UsageError):
        plan([build], max_items=-1)


def test_plan_of_hand_made_runs_and_long_ids() -> None:
    """Runs rebuilt from a store (no machine-readable flags) are grouped by their program."""
    node = "tests/test_" + "very_long_name_" * 8 + ".py::test_x[" + "a" * 80 + "]"
    failure = Failure("unit", node, node.split("::")[0], 3, "boom", "boom", ("pytest", node))
    runs = [CheckRun("unit", ("pytest", "tests"), 1, (failure,), "", 0.1)]
    [item] = plan(runs)
    assert isinstance(item, WorkItem)
    assert item.parser == "pytest" and item.reproduce == ("pytest", node.split("[")[0])
    assert len(item.id) <= len("unit-") + 60 and not item.id.endswith("-")
