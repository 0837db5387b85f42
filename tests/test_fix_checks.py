"""`ao fix`'s checks against the real tools: pytest, ruff, mypy and eslint run on small
repositories generated in ``tmp_path``; the failures they report, the commands that
reproduce each one, the work items, and the gate that verifies a fix."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ao.fix.checks import PARSERS, CheckRun, Failure, WorkItem, gate, plan, run_check
from ao.sdk.errors import CommandError, NotFoundError, UsageError

REPO_ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PYTEST = (PY, "-m", "pytest", "-q", "-p", "no:cacheprovider")
MYPY = (PY, "-m", "mypy")
RUFF = next(
    (
        str(p)
        for p in (Path(PY).parent / "ruff", REPO_ROOT / ".venv" / "bin" / "ruff")
        if p.exists()
    ),
    "ruff",
)
ESLINT = os.environ.get("AO_ESLINT") or str(
    REPO_ROOT / ".agents" / "npm-test" / "node_modules" / ".bin" / "eslint"
)
needs_eslint = pytest.mark.skipif(
    not (Path(ESLINT).exists() and shutil.which("node")),
    reason="eslint is not installed (scripts/install-test-deps.sh, or set AO_ESLINT)",
)


# The generated suites' pytest loads no third-party plugin (a third of the startup time,
# and nothing of this venv's setup leaks into them) and writes no bytecode: a fix written
# within the second of the last run, at the same size, would run the stale .pyc.
QUICK = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONDONTWRITEBYTECODE": "1"}


@pytest.fixture(autouse=True)
def quick_pytest(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in QUICK.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def run(argv: tuple[str, ...] | list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=60)


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


BUGGY_CALC = """
def add(a, b):
    return a - b

def mul(a, b):
    return a + b

def sub(a, b):
    return a - b if a < 10 else 0

def div(a, b):
    return a * b
"""
FIXED_CALC = """
def add(a, b):
    return a + b

def mul(a, b):
    return a * b

def sub(a, b):
    return a - b

def div(a, b):
    return a / b
"""
CALC_TESTS = {
    "pytest.ini": "[pytest]\n",
    "calc.py": BUGGY_CALC,
    "tests/__init__.py": "",
    "tests/test_calc.py": """
        import pytest
        from calc import add, mul, sub

        def test_add():
            assert add(2, 3) == 5

        def test_ok():
            assert True

        class TestOps:
            def test_mul(self):
                assert mul(2, 3) == 6

        @pytest.mark.parametrize("a,b,expected", [(1, 1, 0), (20, 5, 15), (30, 10, 20)])
        def test_sub(a, b, expected):
            assert sub(a, b) == expected

        @pytest.mark.skip(reason="not yet")
        def test_later():
            assert False

        @pytest.mark.xfail(reason="known")
        def test_known():
            assert False
    """,
    "tests/unit/__init__.py": "",
    "tests/unit/test_deep.py": """
        from calc import div

        def test_div():
            assert div(6, 3) == 2
    """,
}


@pytest.fixture(scope="module")
def calc(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CheckRun]:
    """The calc suite (read-only: copy it to change it) and its failing run."""
    repo = write(tmp_path_factory.mktemp("calc"), CALC_TESTS)
    return repo, run_check("tests", [*PYTEST, "tests"], "pytest", repo, 60, env=QUICK)


def copy(repo: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(repo, tmp_path / "repo"))


def test_pytest_failures_are_found_with_exact_node_ids(calc: tuple[Path, CheckRun]) -> None:
    repo, result = calc

    assert result.exit_code == 1
    assert result.argv[: len(PYTEST) + 1] == (*PYTEST, "tests")
    assert any(arg.startswith("--junitxml=") for arg in result.argv)
    by_id = {f.id: f for f in result.failures}
    assert set(by_id) == {
        "tests/test_calc.py::test_add",
        "tests/test_calc.py::TestOps::test_mul",
        "tests/test_calc.py::test_sub[20-5-15]",
        "tests/test_calc.py::test_sub[30-10-20]",
        "tests/unit/test_deep.py::test_div",
    }
    add = by_id["tests/test_calc.py::test_add"]
    assert add.check == "tests"
    where = "tests/test_calc.py"
    assert (add.file, add.line) == (where, line_of(repo / where, "def test_add"))
    assert add.message == "assert -1 == 5 + where -1 = add(2, 3)"
    assert "def test_add" in add.output and "assert -1 == 5" in add.output
    deep = by_id["tests/unit/test_deep.py::test_div"]
    assert (deep.file, deep.line) == ("tests/unit/test_deep.py", 3)
    for failure in result.failures:
        # the check's own path argument gives way to the node id; its options stay
        assert failure.reproduce == (*PYTEST, failure.id)
    assert "5 failed" in result.output


def test_each_reproduce_command_runs_just_its_failure_and_passes_once_fixed(
    calc: tuple[Path, CheckRun], tmp_path: Path
) -> None:
    repo, result = copy(calc[0], tmp_path), calc[1]
    assert len(result.failures) == 5
    for failure in result.failures:
        before = run(failure.reproduce, repo)
        assert before.returncode == 1, before.stdout
        assert before.stdout.strip().splitlines()[-1].startswith("1 failed in"), before.stdout
        assert failure.id in before.stdout
    items = {item.id: item for item in plan([result])}
    sub = items["tests-tests-test-calc-test-sub"]
    assert "2 failed, 1 passed in" in run(sub.reproduce, repo).stdout

    write(repo, {"calc.py": FIXED_CALC})
    for failure in result.failures:
        if "[" in failure.id:  # the others' commands are their items': the gate runs them
            after = run(failure.reproduce, repo)
            assert after.returncode == 0, after.stdout
            assert after.stdout.strip().splitlines()[-1].startswith("1 passed in"), after.stdout
    assert [gate(item, repo, 60) for item in items.values()] == [None] * len(items)
    assert {item.reproduce[-1] for item in items.values()} == {
        "tests/test_calc.py::test_add", "tests/test_calc.py::TestOps::test_mul",
        "tests/test_calc.py::test_sub", "tests/unit/test_deep.py::test_div",
    }  # fmt: skip


def test_pytest_items_one_per_test_a_parametrized_test_is_one(
    calc: tuple[Path, CheckRun],
) -> None:
    items = plan([calc[1]])

    assert [(i.id, i.parser, i.files) for i in items] == [
        ("tests-tests-test-calc-testops-test-mul", "pytest", ("tests/test_calc.py",)),
        ("tests-tests-test-calc-test-add", "pytest", ("tests/test_calc.py",)),
        ("tests-tests-test-calc-test-sub", "pytest", ("tests/test_calc.py",)),
        ("tests-tests-unit-test-deep-test-div", "pytest", ("tests/unit/test_deep.py",)),
    ]
    sub = items[2]
    assert [f.id for f in sub.failures] == [
        "tests/test_calc.py::test_sub[20-5-15]",
        "tests/test_calc.py::test_sub[30-10-20]",
    ]
    assert sub.reproduce == (*PYTEST, "tests/test_calc.py::test_sub")
    assert items[1].reproduce == (*PYTEST, "tests/test_calc.py::test_add")


def test_node_ids_under_a_nested_rootdir_and_of_an_inherited_test(tmp_path: Path) -> None:
    """A pytest.ini below the repository makes pytest's ids relative to it, and an
    inherited test names its base class's file: the ids are still the repository's."""
    repo = write(tmp_path, {
        "backend/pytest.ini": "[pytest]\n",
        "backend/tests/__init__.py": "",
        "backend/tests/base.py": """
            class Base:
                def test_inherited(self):
                    assert 0
        """,
        "backend/tests/test_c.py": """
            from tests.base import Base

            class TestC(Base):
                pass
        """,
    })  # fmt: skip
    result = run_check("tests", [*PYTEST, "backend/tests"], "pytest", repo, 60)

    assert [f.id for f in result.failures] == ["backend/tests/test_c.py::TestC::test_inherited"]
    failure = result.failures[0]
    assert failure.file == "backend/tests/test_c.py"
    repro = run(failure.reproduce, repo)
    assert repro.returncode == 1 and "1 failed in" in repro.stdout, repro.stdout


def test_a_module_that_fails_to_import_is_a_failure_of_its_file(tmp_path: Path) -> None:
    repo = write(tmp_path, {
        "tests/test_broken.py": "import nope\n\ndef test_one():\n    assert True\n",
        "tests/test_other.py": "def test_other():\n    assert 1 == 2\n",
    })  # fmt: skip
    result = run_check("tests", [*PYTEST, "tests"], "pytest", repo, 60)

    by_id = {f.id: f for f in result.failures}
    # the rest of the suite still ran past the broken module
    assert set(by_id) == {"tests/test_broken.py", "tests/test_other.py::test_other"}
    broken = by_id["tests/test_broken.py"]
    assert (broken.file, broken.line) == ("tests/test_broken.py", None)
    assert "No module named 'nope'" in broken.message
    assert broken.reproduce == (*PYTEST, "tests/test_broken.py")
    assert run(broken.reproduce, repo).returncode != 0

    item = next(i for i in plan([result]) if i.files == ("tests/test_broken.py",))
    assert item.id == "tests-tests-test-broken"
    reason = gate(item, repo, 60)
    assert reason is not None and "still fails to collect" in reason
    assert "No module named 'nope'" in reason
    write(repo, {"tests/test_broken.py": "# everything removed\n"})
    reason = gate(item, repo, 60)
    assert reason is not None and "no test of `tests/test_broken.py` ran and passed" in reason
    write(repo, {"tests/test_broken.py": "import os\n\ndef test_one():\n    assert os.sep\n"})
    assert gate(item, repo, 60) is None


GATED = {
    "calc.py": "def add(a, b):\n    return a - b\n",
    "test_calc.py": """
        import pytest
        from calc import add

        def test_add():
            assert add(2, 3) == 5

        def test_ok():
            assert True
    """,
}
FIX = {"calc.py": "def add(a, b):\n    return a + b\n"}


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, WorkItem]:
    """A suite with one failing test (read-only: copy it to change it) and its item."""
    repo = write(tmp_path_factory.mktemp("gated"), GATED)
    [item] = plan([run_check("tests", list(PYTEST), "pytest", repo, 60, env=QUICK)])
    assert item.reproduce == (*PYTEST, "test_calc.py::test_add")
    return repo, item


EXITS_ZERO = "the command exits 0"
DELETED = "def test_ok():\n    assert True\n"
RENAMED = "from calc import add\n\ndef test_add2():\n    assert add(2, 3) == 5\n"
SKIP_MARKER = """
    import pytest

    @pytest.mark.skip(reason="later")
    def test_add():
        assert False
"""
SKIP_CALL = "import pytest\n\ndef test_add():\n    pytest.skip('flaky')\n"
XFAIL = """
    import pytest

    @pytest.mark.xfail(reason="known")
    def test_add():
        assert False
"""


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({}, "`test_calc.py::test_add` still fails: assert -1 == 5"),
        ({**FIX, "test_calc.py": DELETED}, "deleted or renamed"),
        ({**FIX, "test_calc.py": RENAMED}, "deleted or renamed"),
        (
            {"test_calc.py": SKIP_MARKER},
            f"{EXITS_ZERO}; `test_calc.py::test_add` is skipped (later)",
        ),
        ({"test_calc.py": SKIP_CALL}, f"{EXITS_ZERO}; `test_calc.py::test_add` is skipped (flaky)"),
        (
            {"test_calc.py": XFAIL},
            f"{EXITS_ZERO}; `test_calc.py::test_add` is marked xfail (known)",
        ),
        (FIX, None),
    ],
    ids=["unfixed", "deleted", "renamed", "skip-marker", "skip-call", "xfail", "fixed"],
)
def test_the_gate_of_a_test_wants_it_collected_and_passed(
    gated: tuple[Path, WorkItem], tmp_path: Path, change: dict[str, str], expected: str | None
) -> None:
    repo, item = copy(gated[0], tmp_path), gated[1]
    write(repo, change)
    reason = gate(item, repo, 60)
    if expected is None:
        assert reason is None
        return
    assert reason is not None
    if expected.startswith(EXITS_ZERO):
        # rejected although pytest itself is content
        assert run(item.reproduce, repo).returncode == 0
        expected = expected.removeprefix(f"{EXITS_ZERO}; ")
    assert expected in reason
    reason_line, output = reason.split("\n\n", 1)
    assert reason_line.startswith(f"`{' '.join(item.reproduce)}` does not pass: ")
    assert "\n" not in reason_line  # one paragraph, then the command's output
    assert re.search(r" in \d+\.\d+s$", output, re.M)  # pytest's own summary line


def test_a_pytest_that_crashes_is_one_generic_failure(tmp_path: Path) -> None:
    repo = write(tmp_path, {"test_x.py": "def test_x():\n    pass\n"})
    crashed = run_check("tests", [*PYTEST, "--no-such-option"], "pytest", repo, 60)
    assert crashed.exit_code == 4
    [failure] = crashed.failures
    assert (failure.id, failure.file, failure.line) == ("tests", None, None)
    assert "names no failure" in failure.message
    assert "unrecognized arguments: --no-such-option" in failure.output
    assert failure.reproduce == (*PYTEST, "--no-such-option")
    [item] = plan([crashed])
    assert (item.id, item.parser, item.files) == ("tests", "generic", ())

    empty = run_check("tests", [*PYTEST, "-k", "nothing_matches"], "pytest", repo, 60)
    assert empty.exit_code == 5 and len(empty.failures) == 1
    green = run_check("tests", list(PYTEST), "pytest", repo, 60)
    assert (green.exit_code, green.failures) == (0, ())
    assert plan([green]) == []


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
