"""What a check's output says failed: pytest's JUnit XML, ruff's and eslint's JSON, mypy's
text; and the argv that reproduces one failure (the check's command narrowed to it)."""

from __future__ import annotations

import dataclasses
import json
import os
import posixpath
import re
import typing as t
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

from ao.sdk.textsafe import one_line, strip_controls

FAILURE_OUTPUT_LIMIT = 4000

# The program each parser reads; the argv's path arguments are what follows it.
_PROGRAMS: dict[str, tuple[str, ...]] = {
    "pytest": ("pytest", "py.test"),
    "ruff": ("ruff",),
    "eslint": ("eslint",),
    "mypy": ("mypy",),
}


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Options whose value is a separate argument: that value is not a path to narrow.
_VALUE_OPTIONS: dict[str, frozenset[str]] = {
    "pytest": _words(
        "-k -m -c -p -o -W -r -n --maxfail --confcutdir --rootdir --basetemp --junitxml "
        "--junit-xml --junit-prefix --junitprefix --tb --durations --durations-min --deselect "
        "--ignore --ignore-glob --log-level --log-format --log-date-format --log-cli-level "
        "--log-cli-format --log-cli-date-format --log-file --log-file-level --log-file-format "
        "--log-file-date-format --log-file-mode --log-auto-indent --log-disable --capture "
        "--import-mode --override-ini --config-file --inifile --show-capture --color "
        "--code-highlight --doctest-glob --doctest-report --pdbcls --assert --verbosity "
        "--report-log --numprocesses --maxprocesses --dist --tx --rsyncdir "
        "--max-worker-restart --cov --cov-report --cov-config --cov-fail-under --cov-context "
        "--timeout --timeout-method --timeout_method --reruns --reruns-delay --only-rerun "
        "--randomly-seed --hypothesis-seed --hypothesis-profile --hypothesis-verbosity --ds "
        "--dc --html --css --base-url --driver"
    ),
    "ruff": _words(
        "--config --select --extend-select --ignore --extend-ignore --per-file-ignores "
        "--extend-per-file-ignores --fixable --extend-fixable --unfixable --extend-unfixable "
        "--exclude --extend-exclude --target-version --line-length --output-format -o "
        "--output-file --cache-dir --stdin-filename --dummy-variable-rgx"
    ),
    "eslint": _words(
        "-c --config --ext --env --global --parser --parser-options --plugin --rule --rulesdir "
        "--resolve-plugins-relative-to --ignore-path --ignore-pattern --stdin-filename -f "
        "--format -o --output-file --max-warnings --cache-location --cache-strategy --fix-type "
        "--report-unused-disable-directives-severity --report-unused-inline-configs --flag "
        "--concurrency"
    ),
    "mypy": _words(
        "--config-file --python-version --platform --always-true --always-false --cache-dir "
        "--exclude --python-executable --custom-typeshed-dir --enable-error-code "
        "--disable-error-code --follow-imports --package-root --junit-xml --junit-format "
        "--html-report --txt-report --xml-report --xslt-html-report --xslt-txt-report "
        "--linecount-report --linecoverage-report --memory-xml-report --cobertura-xml-report "
        "--lineprecision-report --any-exprs-report --enable-incomplete-feature "
        "--soft-error-limit --untyped-calls-exclude --deprecated-calls-exclude -O "
        "--output"
    ),
}
# mypy's other ways to name what to check: replaced by the file like paths are.
_TARGET_OPTIONS = frozenset({"-m", "--module", "-p", "--package", "-c", "--command"})


@dataclasses.dataclass(frozen=True)
class Failure:
    """One thing a check reported as failing, with what an agent needs to fix it."""

    check: str
    id: str
    file: str | None
    line: int | None
    message: str
    output: str
    reproduce: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Case:
    """One testcase of a JUnit report: its pytest node id and how it ended."""

    id: str
    file: str | None
    line: int | None
    outcome: str  # passed, failed, error, skipped, xfailed
    message: str
    text: str


def bounded(text: str, limit: int = FAILURE_OUTPUT_LIMIT) -> str:
    """``text`` without control characters, at most ``limit`` characters: its start and
    its end (a traceback's last lines name the error) around a note of what was cut."""
    text = strip_controls(text).strip("\n")
    if len(text) <= limit:
        return text
    head = limit // 4
    tail = limit - head - 40  # the marker's room
    marker = f"\n[… {len(text) - head - tail} characters cut …]\n"
    return text[:head] + marker + text[-tail:]


def tail(text: str, limit: int) -> str:
    """The last ``limit`` characters of ``text`` without control characters."""
    text = strip_controls(text).strip("\n")
    return text if len(text) <= limit else "[…]\n" + text[-(limit - 4) :]


def program_index(argv: Sequence[str], parser: str) -> int | None:
    """Where in ``argv`` the program ``parser`` reads is (``pytest``, ``.venv/bin/ruff``,
    ``eslint.js``), or None."""
    names = _PROGRAMS.get(parser, ())
    for index, arg in enumerate(argv):
        base = PurePosixPath(arg).name
        if base in names or base.rsplit(".", 1)[0] in names:
            return index
    return None


def split_command(argv: Sequence[str], parser: str) -> tuple[list[str], list[str], list[str]]:
    """``argv`` as (the program, its options, its path arguments) for ``parser``'s tool.

    The program runs up to the tool's name (``python -m pytest``, ``npx eslint``, ``ruff
    check``); a path argument is a positional one that is no option's value. For mypy,
    ``-m``/``-p``/``-c`` targets count as paths.
    """
    index = program_index(argv, parser)
    end = 1 if index is None else index + 1
    if parser == "ruff" and index is not None and list(argv[end : end + 1]) == ["check"]:
        end += 1
    program, options, paths = list(argv[:end]), [], []
    values = _VALUE_OPTIONS.get(parser, frozenset())
    rest = list(argv[end:])
    index, positional_only = 0, False
    while index < len(rest):
        arg = rest[index]
        if positional_only or arg == "-" or not arg.startswith("-"):
            paths.append(arg)
        elif arg == "--":
            positional_only = True
        elif parser == "mypy" and arg in _TARGET_OPTIONS:
            paths.extend(rest[index : index + 2])
            index += 1
        elif arg in values and index + 1 < len(rest):
            options.extend(rest[index : index + 2])
            index += 1
        else:
            options.append(arg)
        index += 1
    return program, options, paths


def narrowed(argv: Sequence[str], parser: str, target: str) -> tuple[str, ...]:
    """``argv`` with its path arguments replaced by ``target`` (a file, a node id)."""
    program, options, _ = split_command(argv, parser)
    return (*program, *options, target)


def parse_junit(xml_text: str, run: Sequence[str], cwd: Path) -> list[Case]:
    """Every testcase of pytest's JUnit report (``junit_family=xunit1``), its node id
    relative to ``cwd``; ``run`` is the command (its paths locate pytest's rootdir)."""
    root = ET.fromstring(xml_text)
    bases = _bases(run, cwd)
    cases: dict[str, Case] = {}
    for element in root.iter("testcase"):
        node, file = _node_id(element.attrib, cwd, bases)
        outcome, message, text = "passed", "", ""
        for child in element:
            detail = child.attrib.get("message", "")
            if child.tag in ("failure", "error"):
                outcome = "failed" if child.tag == "failure" or outcome == "failed" else "error"
                message = message or detail
                text = f"{text}\n{child.text or ''}".strip("\n")
            elif child.tag == "skipped" and outcome == "passed":
                xfail = child.attrib.get("type") == "pytest.xfail"
                outcome, message = ("xfailed" if xfail else "skipped"), detail
        line = _line_of(element.attrib, file)
        previous = cases.get(node)
        if previous is not None and previous.outcome in ("failed", "error"):
            continue  # reported again (a rerun plugin): the failure is what counts
        cases[node] = Case(node, file, line, outcome, message, text)
    return list(cases.values())


def pytest_failures(check: str, cases: Iterable[Case], run: Sequence[str]) -> list[Failure]:
    """The failing testcases (and modules that failed to import) as failures."""
    failures = []
    for case in cases:
        if case.outcome not in ("failed", "error"):
            continue
        if "::" in case.id:
            message = case.message or f"{case.id} failed"
            output = f"{case.id}: {case.message}\n\n{case.text}"
        else:
            last = _error_line(case.text)
            message = f"cannot collect {case.id}" + (f": {last}" if last else "")
            output = f"{case.id} could not be collected (imported):\n\n{case.text}"
        failures.append(
            Failure(check, case.id, case.file, case.line, one_line(message, 300),
                    bounded(output), narrowed(run, "pytest", case.id))
        )  # fmt: skip
    return failures


def parse_ruff(stdout: str, check: str, run: Sequence[str], cwd: Path) -> list[Failure] | None:
    """ruff's ``--output-format=json`` findings, or None when it is not that JSON."""
    data = _json_list(stdout)
    if data is None:
        return None
    failures = []
    for entry in data:
        if not isinstance(entry, dict):
            continue
        path = _relative(str(entry.get("filename") or ""), cwd)
        location = entry.get("location")
        location = location if isinstance(location, dict) else {}
        line, column = _int(location.get("row")), _int(location.get("column"))
        code = str(entry.get("code") or "syntax-error")
        message = f"{code} {entry.get('message', '')}"
        detail = [f"{path}:{line}:{column}: {message}"]
        fix = entry.get("fix")
        if isinstance(fix, dict) and fix.get("message"):
            detail.append(f"  fix: {fix['message']}")
        if entry.get("url"):
            detail.append(f"  {entry['url']}")
        failures.append(_finding(check, "ruff", run, (path, line, column, code), message, detail))
    return failures


def parse_eslint(stdout: str, check: str, run: Sequence[str], cwd: Path) -> list[Failure] | None:
    """eslint's ``-f json`` errors (warnings too when there are no errors: they failed
    the run through ``--max-warnings``), or None when it is not that JSON."""
    data = _json_list(stdout)
    if data is None:
        return None
    found: list[tuple[int, Failure]] = []
    for result in data:
        if not isinstance(result, dict) or not isinstance(result.get("messages"), list):
            continue
        path = _relative(str(result.get("filePath") or ""), cwd)
        for message in result["messages"]:
            if not isinstance(message, dict):
                continue
            line, column = _int(message.get("line")), _int(message.get("column"))
            rule = str(message.get("ruleId") or ("fatal" if message.get("fatal") else "error"))
            text = f"{message.get('message', '')} ({rule})"
            where = (path, line, column, rule)
            finding = _finding(
                check, "eslint", run, where, text, [f"{path}:{line}:{column}: {text}"]
            )
            found.append((_int(message.get("severity")), finding))
    errors = [finding for severity, finding in found if severity >= 2]
    return errors or [finding for _, finding in found]


_MYPY_LINE = re.compile(
    r"^(?P<path>[^:\n]+):(?P<line>\d+)(?::(?P<col>\d+))?(?::\d+:\d+)?: "
    r"(?P<kind>error|note): (?P<message>.*?)(?:  \[(?P<code>[\w-]+)\])?$"
)


def parse_mypy(output: str, check: str, run: Sequence[str], cwd: Path) -> list[Failure]:
    """mypy's ``path:line: error: message  [code]`` lines, each with the notes after it."""
    entries: list[tuple[str, int, str, list[str]]] = []
    for raw in strip_controls(output).splitlines():
        match = _MYPY_LINE.match(raw)
        if match is None:
            continue
        path = _relative(match["path"], cwd)
        if match["kind"] == "error":
            code = match["code"] or "error"
            message = match["message"] + (f" [{code}]" if match["code"] else "")
            entries.append((path, int(match["line"]), code, [message, raw]))
        elif entries and entries[-1][0] == path:
            entries[-1][3].append(raw)
    return [
        Failure(check, f"{path}:{line}:{code}", path, line, one_line(lines[0], 300),
                bounded("\n".join(lines[1:])), narrowed(run, "mypy", path))
        for path, line, code, lines in entries
    ]  # fmt: skip


def _finding(
    check: str,
    parser: str,
    run: Sequence[str],
    where: tuple[str, int, int, str],
    message: str,
    detail: Sequence[str],
) -> Failure:
    path, line, column, code = where
    return Failure(check, f"{path}:{line}:{column}:{code}", path or None, line or None,
                   one_line(message, 300), bounded("\n".join(detail)),
                   narrowed(run, parser, path))  # fmt: skip


def _json_list(text: str) -> list[t.Any] | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, list) else None


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _relative(path: str, cwd: Path) -> str:
    """A path a tool printed, relative to ``cwd`` when it lies inside it, ``/``-separated."""
    if not path:
        return ""
    if Path(path).is_absolute():
        for root in (cwd, cwd.resolve()):
            try:
                return Path(path).relative_to(root).as_posix()
            except ValueError:
                continue
        return path
    return posixpath.normpath(path.replace(os.sep, "/"))


def _bases(run: Sequence[str], cwd: Path) -> list[str]:
    """Where pytest's rootdir may be, relative to ``cwd``: ``cwd`` itself, then the
    directories of the command's paths and their parents (a ``pytest.ini`` deeper down
    makes node ids relative to its directory, not to the repository)."""
    _, options, paths = split_command(run, "pytest")
    found = [""]
    for index, option in enumerate(options):
        if option == "--rootdir" and index + 1 < len(options):
            paths.append(options[index + 1])
        elif option.startswith("--rootdir="):
            paths.append(option.split("=", 1)[1])
    for arg in paths:
        rel = PurePosixPath(_relative(arg.split("::", 1)[0], cwd))
        while str(rel) not in ("", ".") and not rel.is_absolute():
            if str(rel) not in found and (cwd / rel).is_dir():
                found.append(str(rel))
            rel = rel.parent
    return found


def _locate(rel: str, cwd: Path, bases: Sequence[str]) -> str | None:
    """``rel`` (relative to pytest's rootdir) as a path relative to ``cwd``, if it exists."""
    for base in bases:
        candidate = posixpath.normpath(posixpath.join(base, rel)) if base else rel
        if (cwd / candidate).exists():
            return candidate
    return None


def _dotted(path: str) -> str:
    return re.sub(r"\.py$", "", path).replace("/", ".")


def _node_id(attrib: t.Mapping[str, str], cwd: Path, bases: Sequence[str]) -> tuple[str, str]:
    """The node id (relative to ``cwd``) and test file a JUnit testcase stands for.

    pytest writes ``classname`` as the file's dotted path plus the classes, ``name`` as
    the function with its parameters, and (xunit1) ``file`` as the file the function is
    defined in — another module for an inherited test, so it is only trusted when
    ``classname`` starts with it; otherwise the longest dotted prefix that is a file wins.
    """
    classname, name, file = attrib.get("classname", ""), attrib.get("name", ""), attrib.get("file")
    if not classname:  # a module (or package) that failed to collect
        rel = file or name.replace(".", "/") + ".py"
        path = _locate(rel, cwd, bases) or _locate(name.replace(".", "/"), cwd, bases) or rel
        return path, path
    module = _dotted(file) if file else None
    if file and module and (classname == module or classname.startswith(module + ".")):
        classes = classname[len(module) + 1 :].split(".") if classname != module else []
        path = _locate(file, cwd, bases) or file
        return "::".join([path, *classes, name]), path
    parts = classname.split(".")
    for size in range(len(parts), 0, -1):
        path = _locate("/".join(parts[:size]) + ".py", cwd, bases) or ""
        if path:
            return "::".join([path, *parts[size:], name]), path
    path = "/".join(parts) + ".py"
    return f"{path}::{name}", path


def _line_of(attrib: t.Mapping[str, str], file: str | None) -> int | None:
    """The test's 1-based line (pytest writes it 0-based), when ``file`` is where it is."""
    where, line = attrib.get("file"), attrib.get("line", "")
    if not line.isdigit() or where is None or file is None:
        return None
    return int(line) + 1 if file == where or file.endswith("/" + where) else None


def _error_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line[1:].strip() for line in lines if line.startswith("E ")]
    return errors[-1] if errors else (lines[-1] if lines else "")
