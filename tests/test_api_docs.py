"""docs/api.md's examples run, in order, in a fresh repository; README's example calls
real methods with real keywords."""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
from pathlib import Path

import libtmux
import pytest

from ao.api import Orchestrator
from tests.conftest import REPO_ROOT, git

BLOCK_RE = re.compile(r"^```python\n(.*?)^```", re.M | re.S)


def blocks(path: Path) -> list[tuple[int, str]]:
    """(first line number, code) of every ```python block of ``path``."""
    text = path.read_text(encoding="utf-8")
    return [(text[: m.start(1)].count("\n") + 1, m.group(1)) for m in BLOCK_RE.finditer(text)]


@pytest.fixture
def my_app(tmp_path: Path) -> Path:
    """A repository called my-app with one commit and a bare origin."""
    origin = tmp_path / "origin.git"
    repo = tmp_path / "my-app"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "README.md").write_text("# my-app\n")
    git(repo, "add", "README.md")
    git(repo, "commit", "-q", "-m", "initial")
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "push", "-q", "-u", "origin", "main")
    return repo


@pytest.mark.tmux
def test_the_api_docs_examples_run(
    my_app: Path,
    server: libtmux.Server,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AO_TMUX_SOCKET", server.socket_name)
    monkeypatch.chdir(my_app)
    found = blocks(REPO_ROOT / "docs" / "api.md")
    assert len(found) >= 8
    namespace: dict[str, object] = {"__name__": "docs_api"}
    for line, code in found:
        # padded so a traceback names the line of docs/api.md
        exec(compile("\n" * line + code, str(REPO_ROOT / "docs" / "api.md"), "exec"), namespace)
    printed = capsys.readouterr().out
    assert "my-app True agent-orchestrator.yaml" in printed
    assert "Fix the login bug" in git(my_app.parent / "origin.git", "log", "--format=%s", "ao/ma-1")
    assert "new: message.sent" in printed
    assert "4 no session 'ma-99'" in printed
    assert not [n for n in (s.session_name for s in server.sessions) if n.endswith("-ma-1")]


@pytest.mark.parametrize(
    ("heading", "expected"),
    [
        ("Python API", {"from_config", "create", "status", "send"}),
        ("Delegation", {"create_task", "wait_task"}),
    ],
)
def test_the_readme_example_calls_real_methods(heading: str, expected: set[str]) -> None:
    """README's Python examples: every `ao.<method>(...)` exists with those keywords."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    ((_, code),) = [(0, m.group(1)) for m in BLOCK_RE.finditer(section)]
    calls = [
        node
        for node in ast.walk(ast.parse(code))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id in ("ao", "Orchestrator")
    ]
    assert {c.func.attr for c in calls} >= expected  # type: ignore[attr-defined]
    for call in calls:
        method = getattr(Orchestrator, call.func.attr)  # type: ignore[attr-defined]
        params = inspect.signature(method).parameters
        assert all(k.arg in params for k in call.keywords), (call.func.attr, params)  # type: ignore[attr-defined]
