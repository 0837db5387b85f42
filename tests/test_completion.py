"""Shell completion: the generated scripts, their committed copies, and real shells driving them."""

from __future__ import annotations

import enum
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer

from ao.completion import SHELLS, Kind, command_tree, ids, script
from ao.sdk.errors import UsageError
from ao.store.paths import ProjectPaths
from tests.conftest import REPO_ROOT, RunAo

needs_zsh = pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
needs_fish = pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")

DEMO_SESSIONS = ["de-1", "de-2", "de-10"]
OTHER_SESSIONS = ["ot-1"]
ALL_SESSIONS = ["de-1", "de-2", "de-10", "ot-1"]


@dataclass
class Setup:
    """A config with two projects and some sessions, plus a second config elsewhere."""

    root: Path
    config: Path
    second: Path
    scripts: dict[str, Path]


def _write_config(path: Path, projects: dict[str, Path]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["projects:"]
    for pid, repo in projects.items():
        repo.mkdir(parents=True, exist_ok=True)
        lines += [f"  {pid}:", f"    path: {repo}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _add_sessions(config: Path, pid: str, names: list[str]) -> None:
    sessions = ProjectPaths(config, pid).sessions
    sessions.mkdir(parents=True, exist_ok=True)
    for name in names:
        (sessions / name).write_text(f"id={name}\n", encoding="utf-8")


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Setup:
    root = tmp_path / "work"
    config = root / "agent-orchestrator.yaml"
    _write_config(config, {"demo": root / "demo", "other": root / "other"})
    _add_sessions(config, "demo", DEMO_SESSIONS)
    # not session ids: dot files (atomic-write temporaries) and names SESSION_ID_RE rejects
    _add_sessions(config, "other", [*OTHER_SESSIONS, ".tmp-ot-2", "Bad"])
    second = tmp_path / "elsewhere" / "agent-orchestrator.yaml"
    _write_config(second, {"third": tmp_path / "elsewhere" / "third"})
    _add_sessions(second, "third", ["th-1"])
    (root / "notes.txt").write_text("hi\n", encoding="utf-8")
    monkeypatch.setenv("AO_CONFIG", str(config))
    monkeypatch.setenv("AO_PYTHON", sys.executable)
    monkeypatch.chdir(root)
    scripts = {}
    for shell in SHELLS:
        scripts[shell] = tmp_path / f"ao.{shell}"
        scripts[shell].write_text(script(shell), encoding="utf-8")
    return Setup(root, config, second, scripts)


# ---------------------------------------------------------------- the generator


@pytest.mark.parametrize("shell", SHELLS)
def test_committed_script_is_current(shell: str) -> None:
    committed = REPO_ROOT / "completions" / f"ao.{shell}"
    current = committed.read_text(encoding="utf-8") if committed.exists() else ""
    if current != script(shell):
        pytest.fail(
            f"completions/ao.{shell} does not match the command tree; run `make completions` "
            "and commit the result",
            pytrace=False,
        )


def test_unknown_shell_is_a_usage_error(ao: RunAo) -> None:
    with pytest.raises(UsageError, match="unknown shell 'tcsh'") as info:
        script("tcsh")
    assert info.value.hint == "choose one of: bash, zsh, fish"
    proc = ao("completion", "tcsh")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "bash, zsh, fish" in proc.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_cli_prints_the_script(ao: RunAo, shell: str) -> None:
    proc = ao("completion", shell)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == script(shell)


def test_tree_is_sorted_and_hides_hidden_commands() -> None:
    tree = command_tree()
    names = [c.path[-1] for c in tree.commands]
    assert names == sorted(names)
    assert "_complete" not in names
    assert {"new", "send", "status", "stop", "completion"} <= set(names)
    for cmd in tree.walk():
        keys = [o.names for o in cmd.options]
        assert len(keys) == len(set(keys)), cmd.path
        assert ("--help", "-h") in keys, cmd.path


def test_values_complete_the_right_things() -> None:
    tree = {c.path: c for c in command_tree().walk()}
    send = tree["ao", "send"]
    assert [(a.name, a.value.kind) for a in send.arguments] == [
        ("session_id", Kind.SESSION),
        ("text", Kind.VALUE),
    ]
    options = {o.names: o for o in send.options}
    assert options["--project", "-p"].value is not None
    assert options["--project", "-p"].value.kind is Kind.PROJECT
    assert options["--file", "-f"].value is not None
    assert options["--file", "-f"].value.kind is Kind.FILE
    assert options["--json",].value is None
    for name in ("status", "stop", "attach", "logs", "restore"):
        assert tree["ao", name].arguments[0].value.kind is Kind.SESSION, name
    assert tree["ao", "remove-project"].arguments[0].value.kind is Kind.PROJECT
    shell = tree["ao", "completion"].arguments[0].value
    assert (shell.kind, shell.choices) == (Kind.CHOICE, ("bash", "fish", "zsh"))
    config = {o.names: o for o in tree["ao",].options}["--config", "-c"]
    assert config.value is not None
    assert (config.value.kind, config.value.label) == (Kind.FILE, "PATH")
    assert tree["ao", "start"].arguments[0].value.kind is Kind.FILE  # [PATH|URL]
    logs = {o.names: o for o in tree["ao", "logs"].options}
    assert logs["--lines", "-n"].value is not None
    assert logs["--follow", "-f"].value is None


class Color(enum.Enum):
    red = "red"
    blue = "blue"


def _toy_app() -> typer.Typer:
    app = typer.Typer(
        add_completion=False, context_settings={"help_option_names": ["-h", "--help"]}
    )
    group = typer.Typer(help="A group.")

    @group.command("leaf")
    def leaf(
        session: str = typer.Argument(..., metavar="SESSION"),
        paths: list[Path] = typer.Argument(None),
        color: Color = typer.Option(Color.red, "--color"),
        verbose: int = typer.Option(0, "--verbose", "-v", count=True),
        shout: bool = typer.Option(False, "--shout/--no-shout"),
        secret: str = typer.Option("", "--secret", hidden=True),
    ) -> None:
        """A leaf."""

    @group.command("other")
    def other() -> None:
        """Another leaf."""

    @app.command("top")
    def top(project: str = typer.Option(None, "--project", "-p")) -> None:
        """A top-level command."""

    @app.command("hidden", hidden=True)
    def hidden() -> None:
        """Never offered."""

    app.add_typer(group, name="grp")
    return app


def test_tree_of_nested_groups() -> None:
    tree = command_tree(_toy_app())
    assert [c.path for c in tree.walk()] == [
        ("ao",),
        ("ao", "grp"),
        ("ao", "grp", "leaf"),
        ("ao", "grp", "other"),
        ("ao", "top"),
    ]
    leaf = next(c for c in tree.walk() if c.path == ("ao", "grp", "leaf"))
    assert [(a.value.kind, a.many) for a in leaf.arguments] == [
        (Kind.SESSION, False),
        (Kind.FILE, True),
    ]
    options = {o.names: o for o in leaf.options}
    assert set(options) == {("--color",), ("--help", "-h"), ("--no-shout",), ("--shout",),
                            ("--verbose", "-v")}  # fmt: skip
    color = options["--color",].value
    assert color is not None
    assert (color.kind, color.choices) == (Kind.CHOICE, ("blue", "red"))
    assert options["--verbose", "-v"].value is None
    assert options["--verbose", "-v"].multiple


@pytest.mark.parametrize("shell", SHELLS)
def test_toy_scripts_are_valid(tmp_path: Path, shell: str) -> None:
    path = tmp_path / f"toy.{shell}"
    path.write_text(script(shell, app=_toy_app()), encoding="utf-8")
    checker = {"bash": ["bash", "-n"], "zsh": ["zsh", "-n"], "fish": ["fish", "--no-execute"]}
    if shutil.which(checker[shell][0]) is None:
        pytest.skip(f"{shell} is not installed")
    proc = subprocess.run([*checker[shell], str(path)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "hidden" not in path.read_text(encoding="utf-8").replace("hidden=", "")


# ---------------------------------------------------------------- ao _complete


def test_complete_lists_ids(setup: Setup, ao: RunAo) -> None:
    sessions = ao("_complete", "sessions")
    assert sessions.returncode == 0, sessions.stderr
    assert sessions.stdout.splitlines() == ALL_SESSIONS
    projects = ao("_complete", "projects")
    assert projects.stdout.splitlines() == ["demo", "other"]
    assert ids("sessions") == ALL_SESSIONS
    other = ao("--config", str(setup.second), "_complete", "sessions")
    assert other.stdout.splitlines() == ["th-1"]


def test_complete_is_silent_without_a_valid_config(
    setup: Setup, ao: RunAo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    invalid = tmp_path / "invalid" / "agent-orchestrator.yaml"
    invalid.parent.mkdir()
    invalid.write_text("projects: [unclosed\n", encoding="utf-8")
    monkeypatch.delenv("AO_CONFIG")
    for env in ({}, {"AO_CONFIG": str(invalid)}, {"AO_CONFIG": str(tmp_path / "missing.yaml")}):
        for kind in ("sessions", "projects"):
            proc = ao("_complete", kind, cwd=bare, env=env)
            assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", ""), env


def test_complete_rejects_unknown_kinds(setup: Setup, ao: RunAo) -> None:
    proc = ao("_complete", "branches")
    assert proc.returncode == 2
    assert "sessions, projects" in proc.stderr


def test_complete_has_no_side_effects(setup: Setup, tmp_path: Path) -> None:
    """No tmux, no plugins, nothing written (not even an empty project namespace)."""
    _write_config(setup.config, {"demo": setup.root / "demo", "fresh": setup.root / "fresh"})
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    marker = tmp_path / "tmux-was-called"
    (bin_dir / "tmux").write_text(f"#!/bin/sh\ntouch {marker}\n", encoding="utf-8")
    (bin_dir / "tmux").chmod(0o755)
    probe = (
        "import sys\n"
        "from ao.cli import main\n"
        "main(['_complete', 'sessions'])\n"
        "bad = sorted(m for m in sys.modules if m in ('ao.registry', 'ao.session.context', 'libtmux')"
        " or m.startswith('ao_'))\n"
        "print(bad, file=sys.stderr)\n"
    )
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == DEMO_SESSIONS
    assert proc.stderr.strip() == "[]"
    assert not marker.exists()
    assert not ProjectPaths(setup.config, "fresh").root.exists()


# ---------------------------------------------------------------- real shells

# (command line, expected candidates); {root} and {second} are filled in from the setup.
CASES = [
    ("ao st", ["start", "status", "stop"]),
    ("ao new --pr", ["--project"]),
    ("ao send ", ALL_SESSIONS),
    ("ao send -p ", ["demo", "other"]),
    ("ao remove-project ", ["demo", "other"]),
    ("ao completion ", ["bash", "fish", "zsh"]),
    ("ao -c {second} send ", ["th-1"]),
    ("ao --config={second} stop ", ["th-1"]),
]

BASH_CASES = [
    *CASES,
    ("ao send --project=", ["demo", "other"]),
    ("ao send --project=o", ["other"]),
    ("ao logs -n 5 ot", ["ot-1"]),
    ("ao send -p demo de-1 ", []),
    ("ao status --json de-1", ["de-1", "de-10"]),
    ("ao stop --a", ["--all"]),
    ("ao -", ["--config", "--help", "--version", "-c", "-h"]),
    ("ao config va", ["validate"]),
    ("ao send --file {root}/no", ["{root}/notes.txt"]),
    ("ao start {root}/no", ["{root}/notes.txt"]),
    ("ao bogus ", []),
    ("ao new task ", []),
]


def _fill(text: str, setup: Setup) -> str:
    return text.format(root=setup.root, second=setup.second)


def _bash_words(line: str) -> list[str]:
    """COMP_WORDS as bash builds them: split at blanks, and '=' is a word of its own."""
    words: list[str] = []
    for token in line.split(" "):
        words.extend([p for p in re.split(r"(=)", token) if p] if token else [""])
    return words


BASH_DRIVER = r"""
source "$AO_SCRIPT" || exit 99
ao() { "$AO_PYTHON" -m ao "$@"; }
COMP_WORDS=("$@")
COMP_CWORD=$(($# - 1))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
_ao
if ((${#COMPREPLY[@]})); then printf '%s\n' "${COMPREPLY[@]}"; fi
"""


def bash_complete(setup: Setup, line: str) -> list[str]:
    env = {**os.environ, "AO_SCRIPT": str(setup.scripts["bash"])}
    proc = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", BASH_DRIVER, "bash", *_bash_words(line)],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr
    return proc.stdout.splitlines()


@pytest.mark.parametrize(("line", "expected"), BASH_CASES, ids=[c[0] for c in BASH_CASES])
def test_bash(setup: Setup, line: str, expected: list[str]) -> None:
    got = bash_complete(setup, _fill(line, setup))
    assert sorted(got) == sorted(_fill(e, setup) for e in expected)


def test_bash_registers_and_needs_no_config(
    setup: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proc = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", 'source "$0" && complete -p ao',
         str(setup.scripts["bash"])],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.stdout.strip() == "complete -F _ao ao"
    monkeypatch.delenv("AO_CONFIG")
    monkeypatch.chdir(tmp_path)
    assert bash_complete(setup, "ao send ") == []
    assert bash_complete(setup, "ao sta") == ["start", "status"]


# Sourced in an interactive zsh: record every candidate compadd receives, and bind ^T to
# complete then write a sentinel (sending more input while completing would be typeahead).
ZSH_HOOKS = r"""
PS1='' RPS1=''
bindkey -e
unsetopt autolist beep
fpath=($AO_FPATH $fpath)
autoload -Uz compinit && compinit -u -D
compadd() {
    if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then
        builtin compadd "$@"
        return
    fi
    local -a hits
    builtin compadd -A hits "$@"
    (( $#hits )) && print -rl -- $hits >>$AO_OUT
    builtin compadd "$@"
}
_ao_test_complete() {
    zle complete-word
    print -r -- __DONE__ >>$AO_OUT
}
zle -N _ao_test_complete
bindkey '^T' _ao_test_complete
ao() { "$AO_PYTHON" -m ao "$@"; }
"""

ZSH_DRIVER = r"""
zmodload zsh/zpty || exit 98
zpty z zsh -f -i
zpty -w z 'source $AO_HOOKS'
zpty -n -w z "$1"$'\x14'
for i in {1..600}; do
    [[ -f $AO_OUT ]] && grep -q __DONE__ $AO_OUT && break
    sleep 0.05
done
zpty -d z
"""


def zsh_complete(setup: Setup, line: str, tmp_path: Path) -> list[str]:
    fpath = tmp_path / "zfunc"
    fpath.mkdir(exist_ok=True)
    shutil.copy(setup.scripts["zsh"], fpath / "_ao")
    hooks = tmp_path / "hooks.zsh"
    hooks.write_text(ZSH_HOOKS, encoding="utf-8")
    out = tmp_path / f"zsh-out-{time.monotonic_ns()}"
    env = {**os.environ, "AO_FPATH": str(fpath), "AO_HOOKS": str(hooks), "AO_OUT": str(out)}
    proc = subprocess.run(
        ["zsh", "-f", "-c", ZSH_DRIVER, "zsh", line],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = out.read_text(encoding="utf-8").splitlines() if out.exists() else []
    assert lines[-1:] == ["__DONE__"], lines
    return lines[:-1]


@needs_zsh
def test_zsh_syntax() -> None:
    proc = subprocess.run(
        ["zsh", "-n", str(REPO_ROOT / "completions" / "ao.zsh")], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr


@needs_zsh
@pytest.mark.parametrize(("line", "expected"), CASES, ids=[c[0] for c in CASES])
def test_zsh(setup: Setup, tmp_path: Path, line: str, expected: list[str]) -> None:
    got = zsh_complete(setup, _fill(line, setup), tmp_path)
    assert sorted(got) == sorted(expected)


def fish_complete(setup: Setup, line: str) -> list[str]:
    program = "source $argv[1]; function ao; $AO_PYTHON -m ao $argv; end; complete -C $argv[2]"
    proc = subprocess.run(
        ["fish", "--no-config", "-c", program, str(setup.scripts["fish"]), line],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr
    return [row.split("\t", 1)[0] for row in proc.stdout.splitlines()]


@needs_fish
def test_fish_syntax() -> None:
    proc = subprocess.run(
        ["fish", "--no-execute", str(REPO_ROOT / "completions" / "ao.fish")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr


FISH_CASES = [
    *CASES,
    ("ao send --project=", ["--project=demo", "--project=other"]),
    ("ao logs -n 5 ot", ["ot-1"]),
    ("ao send -p demo de-1 ", []),
    ("ao config va", ["validate"]),
    ("ao send --file {root}/no", ["{root}/notes.txt"]),
    ("ao bogus ", []),
]


@needs_fish
@pytest.mark.parametrize(("line", "expected"), FISH_CASES, ids=[c[0] for c in FISH_CASES])
def test_fish(setup: Setup, line: str, expected: list[str]) -> None:
    got = fish_complete(setup, _fill(line, setup))
    assert sorted(got) == sorted(_fill(e, setup) for e in expected)
