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
from pathlib import Path

import pytest

from ao.fix.checks import CheckRun, WorkItem, gate, plan, run_check

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
