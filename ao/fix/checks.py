"""Run a project's checks, read their failures, split them into work items, and verify
a fix of one item (the gate).

A check is an argv (never a shell string) and a parser naming how its output becomes
failures: ``pytest`` (a JUnit XML report), ``ruff`` and ``eslint`` (their JSON), ``mypy``
(its error lines), ``generic`` (the exit status). Every failure carries the argv that
reproduces just it: the check's command narrowed to the test or the file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shlex
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from ao.fix.parsers import (
    Case,
    Failure,
    bounded,
    parse_eslint,
    parse_junit,
    parse_mypy,
    parse_ruff,
    program_index,
    pytest_failures,
    tail,
)
from ao.sdk.errors import CommandError, NotFoundError, UsageError
from ao.sdk.textsafe import one_line

__all__ = ["PARSERS", "CheckRun", "Failure", "WorkItem", "gate", "plan", "run_check"]

PARSERS = ("pytest", "ruff", "eslint", "mypy", "generic")
OUTPUT_LIMIT = 16000  # what a CheckRun keeps of the output (its end)
_ID_LIMIT = 60  # a work item's slug, before a collision's suffix
_JUNIT = "junit.xml"
_READ_LIMIT = 64 * 1024 * 1024  # bytes of a command's output read back


@dataclasses.dataclass(frozen=True)
class CheckRun:
    """One run of a check: what ran, how it ended, what failed."""

    check: str
    argv: tuple[str, ...]
    exit_code: int
    failures: tuple[Failure, ...]
    output: str
    seconds: float


@dataclasses.dataclass(frozen=True)
class WorkItem:
    """A unit of work for one agent: failures fixed together, and the command that must
    pass once they are."""

    id: str
    check: str
    parser: str
    failures: tuple[Failure, ...]
    reproduce: tuple[str, ...]
    files: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class _Result:
    exit_code: int
    stdout: str  # with stderr too, for the parsers that read text
    stderr: str
    seconds: float
    timed_out: bool

    @property
    def output(self) -> str:
        return "\n".join(part for part in (self.stdout, self.stderr) if part.strip())


def run_check(
    name: str,
    run: Sequence[str],
    parser: str,
    cwd: Path,
    timeout: float,
    *,
    env: Mapping[str, str] | None = None,
) -> CheckRun:
    """Run check ``name`` (the argv ``run``) in ``cwd`` and read its failures with ``parser``.

    The parser's machine-readable flags are added to the argv. It runs in its own process
    group, killed as a whole after ``timeout`` seconds (then exit code -9 and one failure
    saying so). ``env`` adds variables to this process's environment. A check that fails
    without a failure its parser can read gets one generic failure with the output: a red
    check never reads as green. Raises ``UsageError`` for an unknown parser or an empty
    command, ``CommandError`` when the program is missing, ``NotFoundError`` when ``cwd``
    is.
    """
    argv = _command(name, run, parser)
    with tempfile.TemporaryDirectory(prefix="ao-fix-") as tmp:
        full = _machine_argv(argv, parser, Path(tmp))
        result = _execute(full, cwd, timeout, env, Path(tmp), merge=parser not in _JSON)
        if result.timed_out:
            failure = _generic(name, argv, f"`{name}` timed out after {timeout:g}s", result)
            return CheckRun(name, tuple(full), -9, (failure,), tail(result.output, OUTPUT_LIMIT),
                            result.seconds)  # fmt: skip
        failures, shown = _read(name, argv, parser, cwd, result, Path(tmp))
    if result.exit_code != 0 and not failures:
        what = f"`{name}` failed (exit {result.exit_code})"
        if parser != "generic":
            what += f" and its {parser} output names no failure (a crash, or a usage error?)"
        failures = [_generic(name, argv, what, result)]
    return CheckRun(name, tuple(full), result.exit_code, tuple(failures),
                    tail(shown, OUTPUT_LIMIT), result.seconds)  # fmt: skip


def plan(runs: Sequence[CheckRun], max_items: int | None = None) -> list[WorkItem]:
    """The work items of ``runs``: one per failing test (a parametrized test's failing
    cases together), one per file for lint and type findings, one per check for the rest;
    in the runs' order, then by file and id; ``max_items`` keeps the first ones."""
    if max_items is not None and max_items < 0:
        raise UsageError(f"max_items must not be negative (got {max_items})")
    items: list[WorkItem] = []
    taken: set[str] = set()
    for run in runs:
        parser = _parser_of(run)
        groups: dict[tuple[str, str], list[Failure]] = {}
        for failure in run.failures:
            groups.setdefault(_group_key(run, parser, failure), []).append(failure)
        for (kind, key), failures in sorted(groups.items(), key=lambda g: _order(g[0])):
            first = failures[0]
            files: tuple[str, ...]
            if kind == "generic":
                item_parser, slug, files, reproduce = "generic", "", (), first.reproduce
            elif kind == "pytest":
                item_parser, slug = "pytest", re.sub(r"\.py(?=::|$)", "", key)
                files = (first.file,) if first.file else ()
                reproduce = _reproduce_group(first, key)
            else:
                item_parser, slug, reproduce = kind, key, first.reproduce
                files = (first.file,) if first.file else ()
            item_id = _unique(_slug(run.check, slug), taken)
            items.append(WorkItem(item_id, run.check, item_parser, tuple(failures), reproduce,
                                  files))  # fmt: skip
    return items if max_items is None else items[:max_items]


def gate(item: WorkItem, cwd: Path, timeout: float) -> str | None:
    """Whether ``item`` is fixed in ``cwd``: None when it is, else why not (one paragraph,
    then the bounded output of its command) for the agent.

    It runs ``item.reproduce``. Every parser needs it to exit 0, except that a lint or type
    checker may fail on findings in other files only. Pytest items also need each of their
    tests collected and passed (deleted, renamed, skipped or xfail tests do not count),
    lint items no finding left in their files.
    """
    argv = _command(item.id, item.reproduce, item.parser)
    command = shlex.join(argv)
    with tempfile.TemporaryDirectory(prefix="ao-gate-") as tmp:
        full = _machine_argv(argv, item.parser, Path(tmp))
        result = _execute(full, cwd, timeout, None, Path(tmp), merge=item.parser not in _JSON)
        if result.timed_out:
            return _reject(f"`{command}` did not finish within {timeout:g}s.", result.output)
        shown, excused = result.output, False
        if item.parser == "pytest":
            problems = _pytest_problems(item, argv, cwd, result, Path(tmp))
        elif item.parser == "generic":
            problems = []
        else:
            found, shown = _read(item.check, argv, item.parser, cwd, result, Path(tmp))
            problems = _lint_problems(item, found)
            # mypy also reports the modules a file imports: their findings are other items'
            excused = result.exit_code == 1 and bool(found)
    if result.exit_code != 0 and not excused:
        problems.append(f"it exits {result.exit_code}")
    if problems:
        return _reject(f"`{command}` does not pass: " + "; ".join(problems) + ".", shown)
    return None


_JSON = frozenset({"ruff", "eslint"})


def _command(name: str, run: Sequence[str], parser: str) -> list[str]:
    if parser not in PARSERS:
        raise UsageError(
            f"unknown parser {parser!r} for {name!r}", hint=f"use one of: {', '.join(PARSERS)}"
        )
    argv = [str(arg) for arg in run]
    if not argv:
        raise UsageError(f"{name!r} has an empty command", hint="give at least a program name")
    return argv


def _machine_argv(argv: Sequence[str], parser: str, tmp: Path) -> list[str]:
    """``argv`` with the flags that make its tool's output machine-readable."""
    if parser == "pytest":
        # xunit1 adds the file attribute that node ids are rebuilt from; the rest of a
        # suite still runs past a module that fails to import, so all its failures show
        return [*argv, f"--junitxml={tmp / _JUNIT}", "-o", "junit_family=xunit1",
                "--continue-on-collection-errors"]  # fmt: skip
    if parser == "ruff":
        return [*_without(argv, ("--output-format", "-o", "--output-file")),
                "--output-format=json"]  # fmt: skip
    if parser == "eslint":
        return [*_without(argv, ("-f", "--format", "-o", "--output-file")), "-f", "json"]
    if parser == "mypy":
        return [*argv, "--show-error-codes", "--no-error-summary", "--no-color-output",
                "--no-pretty", "--hide-error-context"]  # fmt: skip
    return list(argv)


def _without(argv: Sequence[str], options: Sequence[str]) -> list[str]:
    """``argv`` without ``options`` (and their values): ours replace them."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in options:
            skip = True
        elif not any(arg.startswith(f"{option}=") for option in options):
            kept.append(arg)
    return kept


def _execute(
    argv: Sequence[str],
    cwd: Path,
    timeout: float,
    env: Mapping[str, str] | None,
    tmp: Path,
    *,
    merge: bool,
) -> _Result:
    """Run ``argv`` with its output in files (a pipe would block on a grandchild that
    keeps it open), in its own session, killed as a group after ``timeout``."""
    if not cwd.is_dir():
        raise NotFoundError(f"no directory {cwd} to run {argv[0]} in")
    out_path, err_path = tmp / "stdout", tmp / "stderr"
    began = time.monotonic()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        try:
            child = subprocess.Popen(
                argv,
                cwd=cwd,
                env=None if env is None else {**os.environ, **env},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out if merge else err,
                start_new_session=True,
            )
        except (FileNotFoundError, PermissionError) as exc:
            raise CommandError(
                f"cannot run {argv[0]}: {exc.strerror or exc}",
                hint=f"install {argv[0]}, or fix the check's command or PATH",
            ) from None
        timed_out = False
        with _killing_on_error(child):
            try:
                code = child.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(child)
                code = child.wait()
    seconds = time.monotonic() - began
    # pytest names the report it wrote: a temporary file, gone when this returns
    ours = re.compile(rf"^.*{re.escape(str(tmp))}.*\n?", re.M)
    stdout, stderr = (ours.sub("", _read_back(path)) for path in (out_path, err_path))
    return _Result(code, stdout, stderr, seconds, timed_out)


def _read_back(path: Path) -> str:
    """The end of an output file: all of any report, not all of a runaway log."""
    with path.open("rb") as fh:
        size = fh.seek(0, os.SEEK_END)
        fh.seek(max(0, size - _READ_LIMIT))
        return fh.read().decode("utf-8", errors="replace")


@contextlib.contextmanager
def _killing_on_error(child: subprocess.Popen[bytes]) -> Iterator[None]:
    try:
        yield
    except BaseException:
        _kill_group(child)
        child.wait()
        raise


def _kill_group(child: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)


def _read(
    name: str, argv: Sequence[str], parser: str, cwd: Path, result: _Result, tmp: Path
) -> tuple[list[Failure], str]:
    """The failures in ``result`` (none when it exited 0) and the output to show."""
    output = result.output
    if parser == "generic" or result.exit_code == 0:
        return [], output
    if parser == "pytest":
        cases = _junit_cases(argv, cwd, tmp)
        return pytest_failures(name, cases or (), argv), output
    if parser == "mypy":
        return parse_mypy(result.stdout, name, argv, cwd), output
    reader = parse_ruff if parser == "ruff" else parse_eslint
    found = reader(result.stdout, name, argv, cwd)
    if found is None:
        return [], output
    return found, "\n".join([*(f.output for f in found), result.stderr])


def _junit_cases(argv: Sequence[str], cwd: Path, tmp: Path) -> list[Case] | None:
    """The testcases of the run's JUnit report, None when pytest wrote none (or half)."""
    try:
        return parse_junit((tmp / _JUNIT).read_text(encoding="utf-8"), argv, cwd)
    except (OSError, ValueError):  # ParseError is a ValueError
        return None


def _generic(name: str, argv: Sequence[str], message: str, result: _Result) -> Failure:
    return Failure(name, name, None, None, message, bounded(f"{message}\n\n{result.output}"),
                   tuple(argv))  # fmt: skip


def _pytest_problems(
    item: WorkItem, argv: Sequence[str], cwd: Path, result: _Result, tmp: Path
) -> list[str]:
    cases = _junit_cases(argv, cwd, tmp)
    if cases is None:
        return [f"pytest wrote no report (exit {result.exit_code}): it did not get to run"]
    by_id = {case.id: case for case in cases}
    problems = []
    for failure in item.failures:
        if "::" not in failure.id:  # a module that failed to import
            mine = [c for c in cases if c.id == failure.id or c.id.startswith(failure.id + "::")]
            if any(c.outcome in ("failed", "error") for c in mine):
                problems.append(f"`{failure.id}` still fails to collect")
            elif not any(c.outcome == "passed" for c in mine):
                problems.append(f"no test of `{failure.id}` ran and passed")
            continue
        case = by_id.get(failure.id)
        if case is None:
            problems.append(
                f"`{failure.id}` was not collected: the test was deleted or renamed (make it "
                "pass under its name instead)"
            )
        elif case.outcome == "skipped":
            problems.append(f"`{failure.id}` is skipped ({case.message or 'no reason'}): "
                            "a skipped test is not a fixed one")  # fmt: skip
        elif case.outcome == "xfailed":
            problems.append(f"`{failure.id}` is marked xfail ({case.message or 'no reason'}): "
                            "an expected failure is not a fixed one")  # fmt: skip
        elif case.outcome != "passed":
            problems.append(f"`{failure.id}` still fails: {case.message or case.outcome}")
    return problems


def _lint_problems(item: WorkItem, found: Sequence[Failure]) -> list[str]:
    mine = [f for f in found if f.file in item.files]
    if not mine:
        return []
    listed = "; ".join(f"line {f.line}: {f.message}" for f in mine[:5])
    listed += " …" if len(mine) > 5 else ""
    return [f"{len(mine)} finding(s) left in {', '.join(item.files)}: {listed}"]


def _reject(reason: str, output: str) -> str:
    return f"{one_line(reason, 2000)}\n\n{bounded(output)}".strip()


def _parser_of(run: CheckRun) -> str:
    """Which parser read ``run``: the machine-readable flags it added say so; a hand-made
    run is known by its program."""
    argv = list(run.argv)
    if any(arg.startswith("--junitxml=") for arg in argv) and "junit_family=xunit1" in argv:
        return "pytest"
    if argv[-1:] == ["--output-format=json"]:
        return "ruff"
    if argv[-2:] == ["-f", "json"]:
        return "eslint"
    if "--no-error-summary" in argv:
        return "mypy"
    found = [(i, p) for p in ("pytest", "ruff", "eslint", "mypy")
             if (i := program_index(argv, p)) is not None]  # fmt: skip
    return min(found)[1] if found else "generic"


def _group_key(run: CheckRun, parser: str, failure: Failure) -> tuple[str, str]:
    if parser == "generic" or (failure.id == run.check and failure.file is None):
        return "generic", run.check
    if parser == "pytest":
        # a parametrized test's cases share one fix: one item
        test = re.sub(r"\[.*\]$", "", failure.id) if "::" in failure.id else failure.id
        return "pytest", test
    return parser, failure.file or failure.id


def _order(key: tuple[str, str]) -> tuple[int, str]:
    kind, name = key
    return (1 if kind == "generic" else 0, name)


def _reproduce_group(first: Failure, key: str) -> tuple[str, ...]:
    """The command of a group of tests: the first's, for all of the parametrized test."""
    if first.id != key and first.reproduce[-1:] == (first.id,):
        return (*first.reproduce[:-1], key)
    return first.reproduce


def _slug(check: str, name: str) -> str:
    def clean(text: str) -> str:
        return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")

    body = clean(name)[:_ID_LIMIT].strip("-")
    head = clean(check) or "check"
    return f"{head}-{body}" if body else head


def _unique(slug: str, taken: set[str]) -> str:
    candidate, number = slug, 2
    while candidate in taken:
        candidate, number = f"{slug}-{number}", number + 1
    taken.add(candidate)
    return candidate
