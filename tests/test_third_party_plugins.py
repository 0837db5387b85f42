"""docs/plugins.md, followed: a third-party notifier and agent, built and pip-installed.

The two packages are written from the code blocks of docs/plugins.md (```` ```python
file=<path> ````), so the page's examples are what is tested. They are installed with
pip (``--no-deps --no-build-isolation`` with the venv's hatchling: offline) into a
throwaway venv layered on the test venv: it sees everything the test venv has (ao, its
plugins, hatchling) through a ``.pth`` file, and the test venv itself is never modified,
so tests running in parallel never see a tenth agent (``auto`` would pick it over the
shell). Then: they appear in ``ao plugins --json``, pass the conformance checks, type-check
under mypy --strict, and work: ``ao notify test`` appends a real notification to the
notifier's file, and the agent runs a session (``ao new``, ``ao send``, ``ao status``).
Uninstalling them is seen by the same ``AO_HOME``: the entry-point cache is invalidated
by the site directory's change.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import typing as t
from pathlib import Path

import libtmux
import pytest

from tests.conftest import REPO_ROOT, have_tmux
from tests.sessionkit import Project, wait_for

pytestmark = [
    pytest.mark.tmux,
    pytest.mark.slow,
    pytest.mark.skipif(not have_tmux(), reason="needs tmux"),
]

DOC = REPO_ROOT / "docs" / "plugins.md"
BLOCK = re.compile(r"^```\w+ file=(\S+)\n(.*?)^```$", re.M | re.S)
THEIRS = {("notifier", "file-log"), ("agent", "echo")}
PACKAGES = ("ao-notify-file", "ao-echo-agent")


def write_doc_packages(root: Path) -> list[str]:
    """Every ``file=`` code block of docs/plugins.md, written under ``root``."""
    written = []
    for rel, body in BLOCK.findall(DOC.read_text(encoding="utf-8")):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
        written.append(rel)
    return written


class Venv:
    """A venv whose site directory also loads the test venv's (``site.addsitedir``)."""

    def __init__(self, root: Path) -> None:
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", str(root)],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        self.python = root / "bin" / "python"
        site = subprocess.run(
            [str(self.python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True, timeout=30,
        ).stdout.strip()  # fmt: skip
        self.site = Path(site)
        base = sysconfig.get_paths()["purelib"]
        (self.site / "_ao_test_base.pth").write_text(f"import site; site.addsitedir({base!r})\n")

    def pip(self, *args: str) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(
            [sys.executable, "-m", "pip", "--python", str(self.python), "--no-input",
             "--disable-pip-version-check", *args],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr
        return r

    def ao(
        self, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.python), "-m", "ao", *args], cwd=cwd, env={**os.environ, **(env or {})},
            capture_output=True, text=True, timeout=90,
        )  # fmt: skip

    def plugins(self, ao_home: Path) -> set[tuple[str, str]]:
        r = self.ao("plugins", "--json", env={"AO_HOME": str(ao_home)})
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        assert doc["v"] == 1
        return {(row["slot"], row["name"]) for row in doc["data"]}


@pytest.fixture
def venv(tmp_path: Path) -> Venv:
    return Venv(tmp_path / "venv")


CONFORMANCE = """
import json, sys
from ao import registry
from ao.sdk import conformance
out = {}
for slot, name, options in json.loads(sys.argv[1]):
    cls = registry.load_class(slot, name)
    plugin = registry.load(slot, name, options)
    out[f"{slot}/{name}"] = {
        "class": conformance.problems(slot, cls),
        "instance": conformance.problems(slot, plugin),
        "module": type(plugin).__module__,
        "capabilities": conformance.capabilities(slot, plugin),
    }
print(json.dumps(out))
"""


def test_third_party_notifier_and_agent_install_list_conform_work_and_uninstall(
    tmp_path: Path, venv: Venv, git_repo: Path, server: libtmux.Server,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    built = tmp_path / "built"
    files = write_doc_packages(built)
    assert sorted(files) == [
        "ao-echo-agent/ao_echo_agent/__init__.py",
        "ao-echo-agent/ao_echo_agent/worker.py",
        "ao-echo-agent/pyproject.toml",
        "ao-notify-file/ao_notify_file/__init__.py",
        "ao-notify-file/pyproject.toml",
    ]
    # the examples are typed code: mypy --strict checks them against the contract
    r = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "mypy"),
         str(built / "ao-notify-file" / "ao_notify_file"),
         str(built / "ao-echo-agent" / "ao_echo_agent")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr

    ao_home = tmp_path / "ao-home"  # one state root: its entry-point cache is primed here
    builtins = venv.plugins(ao_home)
    assert ("agent", "shell") in builtins and not builtins & THEIRS

    venv.pip("install", "--no-deps", "--no-build-isolation", "--no-index", "--no-cache-dir",
             *(str(built / p) for p in PACKAGES))  # fmt: skip
    try:
        assert venv.plugins(ao_home) == builtins | THEIRS
        rows = json.loads(venv.ao("plugins", "--json", env={"AO_HOME": str(ao_home)}).stdout)
        mine = {r["name"]: r for r in rows["data"] if (r["slot"], r["name"]) in THEIRS}
        assert mine["file-log"]["package"] == "ao-notify-file"
        assert mine["file-log"]["target"] == "ao_notify_file:FileNotifier"
        assert mine["echo"]["package"] == "ao-echo-agent"

        checked = _conformance(venv, tmp_path)
        assert checked["notifier/file-log"]["class"] == []
        assert checked["notifier/file-log"]["instance"] == []
        assert checked["agent/echo"]["instance"] == []
        assert checked["agent/echo"]["module"] == "ao_echo_agent"

        _notifier_receives_a_real_notification(venv, git_repo)
        _agent_runs_a_session(venv, git_repo, server, monkeypatch)
    finally:
        venv.pip("uninstall", "-y", *PACKAGES)
    # the same AO_HOME, whose cache listed them: removing them changed the site directory
    assert venv.plugins(ao_home) == builtins


def _conformance(venv: Venv, tmp_path: Path) -> dict[str, t.Any]:
    wanted = [["notifier", "file-log", {"path": str(tmp_path / "x.jsonl")}], ["agent", "echo", {}]]
    r = subprocess.run(
        [str(venv.python), "-c", CONFORMANCE, json.dumps(wanted)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    return t.cast("dict[str, t.Any]", json.loads(r.stdout))


def _notifier_receives_a_real_notification(venv: Venv, repo: Path) -> None:
    inbox = repo.parent / "notes.jsonl"
    project = Project(repo, t.cast("libtmux.Server", None), _runner(venv))
    project.configure(top={"notifiers": {"log": {"plugin": "file-log", "path": str(inbox)}}})
    r = project.ao("notify", "test", "log", "--json")
    assert r.returncode == 0, r.stderr
    [result] = json.loads(r.stdout)["data"]
    assert result["ok"] is True and result["plugin"] == "file-log", result
    [record] = [json.loads(line) for line in inbox.read_text().splitlines()]
    assert record["title"] == "ao test notification"
    assert record["message"] == "If you can read this, the 'log' notifier works."
    assert record["priority"] == "info"

    # a bad option is the plugin's own ConfigError, reported per notifier
    project.configure(top={"notifiers": {"log": {"plugin": "file-log"}}})
    r = project.ao("notify", "test", "log", "--json")
    [result] = json.loads(r.stdout)["data"]
    assert result["ok"] is False and "needs option 'path'" in result["error"], result


def _agent_runs_a_session(
    venv: Venv, repo: Path, server: libtmux.Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AO_TMUX_SOCKET", str(server.socket_name))
    project = Project(repo, server, _runner(venv))
    project.configure()  # defaults.agent is shell: --agent picks the third-party one
    r = project.ao("new", "--agent", "echo", "buy milk")
    assert r.returncode == 0, r.stdout + r.stderr
    [session] = t.cast("list[dict[str, t.Any]]", project.ao_json("list"))
    assert session["agent"] == "echo"
    notes = Path(session["worktree"]) / "notes.txt"
    wait_for(lambda: notes.exists() and notes.read_text() == "buy milk\n", what="the task")

    r = project.ao("send", session["id"], "and bread")
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: notes.read_text() == "buy milk\nand bread\n", what="the message")
    status = t.cast("dict[str, t.Any]", project.ao_json("status", session["id"]))
    assert status["activity"] == "ready", status
    assert "echo> prompt" in json.dumps(status)


def _runner(venv: Venv) -> t.Callable[..., subprocess.CompletedProcess[str]]:
    def run(*args: str, cwd: Path | None = None, **kw: t.Any) -> subprocess.CompletedProcess[str]:
        return venv.ao(*args, cwd=cwd)

    return run
