"""Shared fixtures: isolated AO_HOME/HOME per test, real git repos, the ao CLI as a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own AO_HOME and HOME; nothing leaks from the developer's setup."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AO_HOME", str(home / ".agent-orchestrator"))
    monkeypatch.setenv("SHELL", "/bin/sh")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "ao test")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "ao@example.invalid")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "ao test")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "ao@example.invalid")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in ("AO_CONFIG", "AO_TMUX_SOCKET", "TMUX", "TMUX_PANE", "NO_COLOR"):
        monkeypatch.delenv(var, raising=False)
    yield home


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` and return its stdout (raises on failure)."""
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=30
    ).stdout


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """A repo with one commit on ``main`` and a bare ``origin`` at an absolute path."""
    origin = tmp_path / "origin.git"
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "README.md").write_text("# demo\n")
    git(repo, "add", "README.md")
    git(repo, "commit", "-q", "-m", "initial")
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "push", "-q", "-u", "origin", "main")
    return repo


RunAo = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def ao() -> RunAo:
    """Run the real ``ao`` CLI in a subprocess with the test's environment."""

    def run(
        *args: str,
        cwd: Path | None = None,
        input: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ao", *args],
            cwd=cwd,
            input=input,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


def have_tmux() -> bool:
    return shutil.which("tmux") is not None


# fixtures that live with their helpers: `browser` (headless Chromium through Selenium),
# `proj` (a configured repo on the test's own tmux server), `board` (`ao dashboard` serving it)
from tests.browserkit import browser  # noqa: E402, F401
from tests.sessionkit import proj  # noqa: E402, F401
from tests.webkit import board  # noqa: E402, F401
