"""`ao start`, `add-project`, `remove-project`, `plugins` and `doctor` against real git repos."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import libtmux
import pytest
import yaml

from tests.conftest import RunAo, git


def data(r: subprocess.CompletedProcess[str]) -> object:
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["v"] == 1
    return doc["data"]


def test_start_writes_config_from_the_repo_and_is_idempotent(git_repo: Path, ao: RunAo) -> None:
    first = data(ao("start", "--no-watch", "--json", cwd=git_repo))
    assert isinstance(first, dict)
    config = git_repo / "agent-orchestrator.yaml"
    assert first["created_config"] is True and first["config"] == str(config)
    assert first["agent"] == "shell"  # the only agent installed in the test env
    doc = yaml.safe_load(config.read_text())
    project = doc["projects"]["repo"]
    assert project["defaultBranch"] == "main" and project["path"] == "."
    assert project["sessionPrefix"] == "repo"  # written, so ids never change under the user
    assert "$schema" in doc
    # kept out of git: the user's `git status` stays clean
    assert git(git_repo, "status", "--porcelain") == ""
    assert ao("config", "validate", cwd=git_repo).returncode == 0

    again = data(ao("start", "--no-watch", "--json", cwd=git_repo))
    assert again == {**first, "created_config": False, "added_project": False}
    assert first["watcher"] == {"state": "skipped", "detail": "--no-watch"}
    assert yaml.safe_load(config.read_text()) == doc


def test_start_from_a_subdirectory_finds_the_repo_root(git_repo: Path, ao: RunAo) -> None:
    sub = git_repo / "src" / "pkg"
    sub.mkdir(parents=True)
    result = data(ao("start", "--no-watch", "--json", cwd=sub))
    assert result["config"] == str(git_repo / "agent-orchestrator.yaml")  # type: ignore[index]


def test_start_url_makes_a_full_clone(git_repo: Path, ao: RunAo, tmp_path: Path) -> None:
    for i in range(3):
        (git_repo / f"f{i}").write_text(str(i))
        git(git_repo, "add", ".")
        git(git_repo, "commit", "-qm", f"c{i}")
    git(git_repo, "push", "-q")
    workdir = tmp_path / "work"
    workdir.mkdir()
    url = f"file://{tmp_path / 'origin.git'}"
    result = data(ao("start", url, "--no-watch", "--json", cwd=workdir))
    clone = workdir / "origin"
    assert result["cloned"] is True and result["config"] == str(clone / "agent-orchestrator.yaml")  # type: ignore[index]
    assert git(clone, "rev-parse", "--is-shallow-repository").strip() == "false"
    assert int(git(clone, "rev-list", "--count", "HEAD")) == 4
    # running it again reuses the clone
    assert data(ao("start", url, "--no-watch", "--json", cwd=workdir))["cloned"] is True  # type: ignore[index]


def test_start_outside_a_repo_is_a_clear_error(tmp_path: Path, ao: RunAo) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    r = ao("start", "--no-watch", cwd=empty)
    assert r.returncode == 2
    assert "not inside a git repository" in r.stderr and len(r.stderr.splitlines()) == 1
    assert not (empty / "agent-orchestrator.yaml").exists()


def test_add_and_remove_project(git_repo: Path, ao: RunAo, tmp_path: Path) -> None:
    assert ao("start", "--no-watch", cwd=git_repo).returncode == 0
    other = tmp_path / "other"
    subprocess.run(["git", "init", "-q", "-b", "trunk", str(other)], check=True)
    git(other, "commit", "-q", "--allow-empty", "-m", "init")
    config = git_repo / "agent-orchestrator.yaml"
    config.write_text("# my notes\n" + config.read_text())

    added = data(ao("add-project", str(other), "--name", "other", "--json", cwd=git_repo))
    assert added == {
        "config": str(config), "project": "other", "added_project": True, "cloned": False,
    }  # fmt: skip
    doc = yaml.safe_load(config.read_text())
    assert doc["projects"]["other"]["defaultBranch"] == "trunk"
    assert config.read_text().startswith("# my notes\n")

    # a name whose default prefix is taken ("repo2" -> "repo") gets one of its own
    third = tmp_path / "repo2"
    subprocess.run(["git", "init", "-q", "-b", "main", str(third)], check=True)
    git(third, "commit", "-q", "--allow-empty", "-m", "init")
    assert ao("add-project", str(third), cwd=git_repo).returncode == 0
    prefixes = {
        p: c["sessionPrefix"] for p, c in yaml.safe_load(config.read_text())["projects"].items()
    }
    assert prefixes == {"repo": "repo", "other": "othe", "repo2": "repo2"}, prefixes
    assert ao("config", "validate", cwd=git_repo).returncode == 0

    removed = data(ao("remove-project", "other", "--json", cwd=git_repo))
    assert isinstance(removed, dict)
    assert removed["project"] == "other" and removed["live_sessions"] == 0
    assert removed["config"] == str(config) and removed["state"].endswith("-other")
    assert "other" not in yaml.safe_load(config.read_text())["projects"]
    r = ao("remove-project", "nope", cwd=git_repo)
    assert r.returncode == 4 and "nope" in r.stderr


def test_commands_without_config_say_how_to_start(tmp_path: Path, ao: RunAo) -> None:
    r = ao("list", cwd=tmp_path)
    assert r.returncode == 3
    assert "ao start" in r.stderr and len(r.stderr.splitlines()) == 1


def test_plugins_lists_builtins_through_entry_points(ao: RunAo, tmp_path: Path) -> None:
    rows = data(ao("plugins", "--json", cwd=tmp_path))
    assert isinstance(rows, list)
    names = {(r["slot"], r["name"]) for r in rows}
    assert {
        ("runtime", "tmux"),
        ("workspace", "worktree"),
        ("agent", "shell"),
        ("terminal", "tmux"),
    } <= names
    for r in rows:
        assert set(r) == {"slot", "name", "target", "package", "version"}


def test_doctor_passes_in_a_configured_repo(git_repo: Path, ao: RunAo) -> None:
    assert ao("start", "--no-watch", cwd=git_repo).returncode == 0
    r = ao("doctor", "--json", cwd=git_repo)
    checks = data(r)
    assert isinstance(checks, list)
    by_name = {c["name"]: c for c in checks}
    for name in ("tmux", "git", "config", "state dir", "project repo", "runtime tmux"):
        assert by_name[name]["level"] == "PASS", by_name[name]
    assert by_name["config"]["detail"].endswith("(1 project)")


def test_doctor_fails_on_a_broken_config(git_repo: Path, ao: RunAo) -> None:
    (git_repo / "agent-orchestrator.yaml").write_text(
        "projects:\n  x: {path: ., defaultBrnch: main}\n"
    )
    r = ao("doctor", cwd=git_repo)
    assert r.returncode == 1
    assert "FAIL  config" in r.stdout and "defaultBranch" in r.stdout


def test_start_runs_one_watcher_in_tmux_and_adopts_it(
    git_repo: Path, ao: RunAo, server: libtmux.Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AO_TMUX_SOCKET", server.socket_name)
    first = data(ao("start", "--json", cwd=git_repo))
    assert first["watcher"]["state"] == "started"  # type: ignore[index]
    name = first["watcher"]["detail"]  # type: ignore[index]
    assert [s.session_name for s in server.sessions] == [name]
    again = data(ao("start", "--json", cwd=git_repo))
    assert again["watcher"] == {"state": "running", "detail": name}  # type: ignore[index]
    assert len(server.sessions) == 1
    # it really watches: its pane runs `ao watch`
    pane = server.sessions[0].active_pane
    assert pane is not None
    deadline = time.monotonic() + 10
    while "watching every" not in "\n".join(pane.capture_pane()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "watching every" in "\n".join(pane.capture_pane())
