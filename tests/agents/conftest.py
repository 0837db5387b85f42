"""Fixtures for driving the real agent CLIs under ``ao`` against the scripted fake model.

The CLIs come from ``scripts/install-agents.sh`` (``$AO_AGENTS_PREFIX``, default
``<repo>/.agents/npm``); their ``bin`` goes first on PATH. Each test gets the root
conftest's private HOME/AO_HOME, a private tmux server (libtmux's ``server``) and a
``FakeModel`` on 127.0.0.1. Tests that need a CLI that is not installed are skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import libtmux
import pytest
import yaml

from ao.selftest.server import ScriptedServer
from tests.conftest import REPO_ROOT, RunAo

from .fakemodel import FakeModel

NATIVE_SETTLE = 5.0  # seconds a state seen on the screen may wait for the CLI's record


def _source(doc: dict[str, object]) -> object:
    evidence = doc.get("evidence")
    return evidence.get("source") if isinstance(evidence, dict) else None


PREFIX = Path(os.environ.get("AO_AGENTS_PREFIX") or REPO_ROOT / ".agents" / "npm")
API_KEY = "sk-ant-fake-00000000000000000000"  # Claude remembers approvals by the last 20 chars


def agent_bin(name: str) -> str | None:
    """Path of an installed agent CLI: the private prefix first, then PATH."""
    local = PREFIX / "bin" / name
    if local.exists():
        return str(local)
    return shutil.which(name)


def require_cli(name: str) -> None:
    if agent_bin(name) is None:
        pytest.skip(f"{name} is not installed (run scripts/install-agents.sh)")


@pytest.fixture(autouse=True)
def agents_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The private agent prefix's bin goes first on PATH (for ao and for tmux panes)."""
    monkeypatch.setenv("PATH", f"{PREFIX / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    for var in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL",
                "CLAUDE_CODE_OAUTH_TOKEN", "CLAUDE_CONFIG_DIR", "OPENAI_API_KEY",
                "OPENAI_BASE_URL", "CODEX_HOME", "CODEX_API_KEY"):  # fmt: skip
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def fake() -> Iterator[FakeModel]:
    server = FakeModel().start()
    yield server
    server.close()


def wait_for(
    predicate: Callable[[], object], timeout: float = 30.0, what: str = "condition"
) -> object:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what} (last: {last!r})")


class Harness:
    """A configured repo whose agent sessions run on the test's private tmux server."""

    def __init__(self, repo: Path, server: libtmux.Server, ao: RunAo, fake: FakeModel) -> None:
        self.repo = repo
        self.server = server
        self.fake = fake
        self._ao = ao

    def configure(self, agent: str, **project: object) -> None:
        config = {
            "defaults": {"agent": agent},
            "projects": {"demo": {"path": str(self.repo), "sessionPrefix": "d", **project}},
        }
        (self.repo.parent / "agent-orchestrator.yaml").write_text(yaml.safe_dump(config))

    def ao(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        return self._ao(*args, cwd=self.repo.parent, timeout=timeout)

    def ok(self, *args: str, timeout: float = 90) -> object:
        r = self.ao(*args, "--json", timeout=timeout)
        assert r.returncode == 0, f"ao {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}"
        return json.loads(r.stdout)["data"]

    def status(self, session: str) -> dict[str, object]:
        data = self.ok("status", session)
        assert isinstance(data, dict)
        return data

    def wait_activity(
        self, session: str, states: str | tuple[str, ...], timeout: float = 30.0
    ) -> dict[str, object]:
        wanted = (states,) if isinstance(states, str) else states
        seen: list[str] = []

        def check() -> dict[str, object] | None:
            doc = self.status(session)
            evidence = doc["evidence"]
            assert isinstance(evidence, dict)
            note = f"{doc['activity']}: {evidence['source']}: {evidence['detail']}"  # no age
            if not seen or seen[-1] != note:
                seen.append(note)
            return doc if doc["activity"] in wanted else None

        try:
            found = wait_for(check, timeout, f"{session} to be {'/'.join(wanted)}")
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}\nstates seen: {seen}\nscreen:\n{self.screen(session)}"
            ) from None
        assert isinstance(found, dict)
        # The screen can show a state a moment before the CLI's own record is written (an
        # error printed, then logged): on a busy machine give the record that moment, so
        # the evidence is the record's whenever the CLI writes one. A test expecting the
        # screen still gets it: nothing else comes.
        deadline = time.monotonic() + NATIVE_SETTLE
        while _source(found) == "screen" and time.monotonic() < deadline:
            time.sleep(0.3)
            later = check()
            if later is None:
                break  # the state moved on: what was seen stands
            found = later
        return found

    def blocked(self, session: str, reason: str, timeout: float = 60.0) -> dict[str, object]:
        """Wait for a failed turn to read as ``blocked`` with its reason in the evidence; one
        watch pass records the status, ``ao why`` names the reason, and it stays blocked."""
        doc = self.wait_activity(session, "blocked", timeout)
        assert reason in str(doc["evidence"]["detail"]), doc  # type: ignore[index]
        r = self.ao("watch", "--once")
        assert r.returncode == 0, f"ao watch --once failed:\n{r.stdout}\n{r.stderr}"
        doc = self.status(session)
        assert (doc["activity"], doc["status"]) == ("blocked", "blocked"), doc
        why = self.ao("why", session)
        assert why.returncode == 0 and reason in why.stdout, why.stdout + why.stderr
        for _ in range(3):  # not a passing state: the agent will not go on by itself
            time.sleep(1)
            doc = self.status(session)
            assert doc["activity"] == "blocked" and reason in str(doc["evidence"]), doc
        return doc

    def recovers(self, session: str, model: ScriptedServer, timeout: float = 60.0) -> None:
        """``ao restore`` (in the environment as it is now) brings a blocked session back:
        the agent is ready again and a new turn reaches the model and ends normally."""
        r = self.ao("restore", session, timeout=120)
        assert r.returncode == 0, f"ao restore failed:\n{r.stdout}\n{r.stderr}"
        # a first-run dialog of the new process (Claude's key confirmation) is the
        # watcher's to answer, tick after tick until it is gone, as for the user
        deadline = time.monotonic() + timeout
        doc = self.wait_activity(session, ("ready", "needs_input"), timeout)
        while doc["activity"] != "ready" and time.monotonic() < deadline:
            assert "dialog on screen" in str(doc["evidence"]), doc
            assert self.ao("watch", "--once").returncode == 0
            time.sleep(1)
            doc = self.wait_activity(session, ("ready", "needs_input"), timeout)
        assert doc["activity"] == "ready", f"{doc}\n{self.screen(session)}"
        asked = "Are you back?"
        sent = self.ok("send", session, asked)
        assert sent["status"] == "delivered", sent  # type: ignore[index]
        try:
            wait_for(lambda: any(asked in req.text() for req in model.main_requests()),
                     timeout, "the new turn to reach the model")  # fmt: skip
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}\nstatus: {self.status(session)}\nscreen:\n{self.screen(session)}"
            ) from None
        self.wait_activity(session, "ready", timeout)
        assert self.ao("watch", "--once").returncode == 0
        assert self.status(session)["status"] != "blocked"

    def start_login_server(self) -> None:
        """Start the tmux server first, as a user's login would, from a minimal environment
        (no provider key, no agent prefix on PATH): ao must hand the agent its own."""
        assert self.server.socket_name is not None
        env = {"PATH": "/usr/bin:/bin", "HOME": os.environ["HOME"]}
        if os.environ.get("TMUX_TMPDIR"):
            env["TMUX_TMPDIR"] = os.environ["TMUX_TMPDIR"]
        subprocess.run(
            ["tmux", "-L", self.server.socket_name, "new-session", "-d", "-s", "login",
             "sleep", "900"],
            env=env, check=True, timeout=10,
        )  # fmt: skip

    def screen(self, session: str) -> str:
        return self.ao("logs", session, "-n", "40").stdout

    def metadata(self, session: str) -> dict[str, str]:
        """The session's recorded metadata, read in-process like the core does."""
        from ao.session.context import Context

        ctx = Context.load(self.repo.parent)
        _, found = ctx.find_session(session)
        return dict(found.data)

    def pane_pid(self, session: str) -> int:
        name = self.metadata(session)["tmux_name"]
        out = self.server.cmd("display-message", "-p", "-t", f"={name}:", "#{pane_pid}").stdout
        return int(out[0])


@pytest.fixture
def harness(
    git_repo: Path,
    server: libtmux.Server,
    ao: RunAo,
    fake: FakeModel,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Harness:
    assert server.socket_name is not None  # libtmux's fixture names its server
    monkeypatch.setenv("AO_TMUX_SOCKET", server.socket_name)
    monkeypatch.setenv("TMUX_TMPDIR", str(tmp_path))
    return Harness(git_repo, server, ao, fake)


# ----------------------------------------------------------------------------- claude


def seed_claude_home(
    home: Path, *, approve_key: bool = False, trust: tuple[Path, ...] = ()
) -> None:
    """What a user's ~/.claude.json holds after onboarding (the CLI exits on a fresh one)."""
    doc: dict[str, object] = {"hasCompletedOnboarding": True, "projects": {}}
    if approve_key:
        doc["customApiKeyResponses"] = {"approved": [API_KEY[-20:]], "rejected": []}
    for path in trust:
        doc["projects"][str(path)] = {"hasTrustDialogAccepted": True}  # type: ignore[index]
    (home / ".claude.json").write_text(json.dumps(doc))


@pytest.fixture
def claude(harness: Harness, isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> Harness:
    """Claude Code pointed at the fake with an API key; ao answers trust + key dialogs."""
    require_cli("claude")
    seed_claude_home(isolated_env)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", harness.fake.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    monkeypatch.setenv("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
    monkeypatch.setenv("DISABLE_AUTOUPDATER", "1")
    harness.configure("claude-code", model="claude-sonnet-4-5")
    return harness


# ----------------------------------------------------------------------------- codex


def seed_codex_home(home: Path, url: str) -> Path:
    """A user's ~/.codex/config.toml with a provider that points at the fake."""
    codex_home = home / ".codex"
    codex_home.mkdir(exist_ok=True)
    (codex_home / "config.toml").write_text(
        'model = "gpt-5"\n'
        'model_provider = "fake"\n\n'
        "[model_providers.fake]\n"
        'name = "fake"\n'
        f'base_url = "{url}/v1"\n'
        'wire_api = "responses"\n'
        'env_key = "FAKE_OPENAI_KEY"\n'
        "supports_websockets = false\n"
    )
    return codex_home


@pytest.fixture
def codex(harness: Harness, isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> Harness:
    """Codex with the user's config pointing at the fake (copied into each session's home)."""
    require_cli("codex")
    seed_codex_home(isolated_env, harness.fake.url)
    monkeypatch.setenv("FAKE_OPENAI_KEY", "sk-fake")
    harness.configure("codex")
    return harness
