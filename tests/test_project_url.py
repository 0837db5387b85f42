"""A project with a ``url`` and no checkout: the first command that needs one clones it.

Real git throughout: the URL is a bare repository on this machine (``file://``), the
commands are the real ``ao`` CLI in subprocesses, the agent is ``sh`` in real tmux.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import typing as t
from pathlib import Path

import libtmux
import pytest
import yaml

from tests.conftest import RunAo, git


def write_config(root: Path, path: Path, url: str) -> None:
    config = {
        "defaults": {"agent": "shell"},
        "agents": {"shell": {"command": ["sh"]}},
        "projects": {"app": {"path": str(path), "url": url, "sessionPrefix": "a"}},
    }
    (root / "agent-orchestrator.yaml").write_text(yaml.safe_dump(config))


@pytest.fixture
def home(tmp_path: Path, server: libtmux.Server, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AO_TMUX_SOCKET", server.socket_name)
    root = tmp_path / "work"
    root.mkdir()
    return root


def test_the_first_ao_new_clones_the_project_and_starts_the_session(
    git_repo: Path, home: Path, ao: RunAo
) -> None:
    url = f"file://{git_repo.parent / 'origin.git'}"
    checkout = home / "checkouts" / "app"
    write_config(home, checkout, url)
    r = ao("doctor", cwd=home)
    assert "not cloned yet: the first `ao new` clones " + url in r.stdout, r.stdout
    r = ao("new", "echo hi", cwd=home)
    assert r.returncode == 0, r.stderr
    assert git(checkout, "remote", "get-url", "origin").strip() == url
    assert git(checkout, "rev-parse", "HEAD") == git(git_repo, "rev-parse", "HEAD")
    status = t.cast(dict[str, t.Any], json.loads(ao("status", "a-1", "--json", cwd=home).stdout))
    worktree = Path(status["data"]["worktree"])
    assert (worktree / "README.md").read_text() == "# demo\n"
    assert not list(checkout.parent.glob(".*ao-clone*"))  # no scratch left beside it
    assert ao("stop", "a-1", cwd=home).returncode == 0


def test_concurrent_commands_make_one_clone(git_repo: Path, home: Path, ao: RunAo) -> None:
    checkout = home / "app"
    write_config(home, checkout, f"file://{git_repo.parent / 'origin.git'}")
    # a leftover of a clone cut short is replaced, not taken for the checkout
    scratch = home / ".app.ao-clone"
    scratch.mkdir()
    (scratch / "half").write_text("")
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda n: ao("new", "echo hi", "--name", n, cwd=home), ["x", "y"]))
    assert [r.returncode for r in runs] == [0, 0], [r.stderr for r in runs]
    assert not scratch.exists()
    sessions = t.cast(dict[str, t.Any], json.loads(ao("list", "--json", cwd=home).stdout))
    assert len(sessions["data"]) == 2
    assert git(checkout, "status", "--porcelain") == ""
    for name in ("x", "y"):
        ao("stop", name, cwd=home)


def test_a_clone_that_fails_names_the_project_and_hides_the_password(home: Path, ao: RunAo) -> None:
    checkout = home / "app"
    write_config(home, checkout, "https://me:s3cretpass99@127.0.0.1:9/none.git")
    r = ao("new", "echo hi", cwd=home)
    assert r.returncode != 0
    assert "project 'app': could not clone https://me:<redacted>@127.0.0.1:9/none.git" in r.stderr
    assert "s3cretpass99" not in r.stderr + r.stdout
    assert not checkout.exists() and not list(home.glob(".*ao-clone*"))
    # nor in ao's events and logs (the config cache mirrors the file the user wrote)
    state = [p for p in Path(os.environ["AO_HOME"]).rglob("*") if p.is_file()]
    assert not any("s3cretpass99" in p.read_text(errors="replace")
                   for p in state if "cache" not in p.parts)  # fmt: skip


def test_a_directory_with_files_is_never_cloned_over(git_repo: Path, home: Path, ao: RunAo) -> None:
    checkout = home / "app"
    checkout.mkdir()
    (checkout / "mine.txt").write_text("the user's\n")
    write_config(home, checkout, f"file://{git_repo.parent / 'origin.git'}")
    r = ao("new", "echo hi", cwd=home)
    assert r.returncode != 0
    assert "is not a git repository and not empty" in r.stderr
    assert sorted(p.name for p in checkout.iterdir()) == ["mine.txt"]
