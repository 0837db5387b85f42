"""``ao doctor --agents``: drive each installed agent CLI against the scripted model.

For every selected agent whose adapter has ``selftest_env`` and whose CLI is installed:
a scratch directory (HOME, AO_HOME, a git repo with a bare origin, a config), the
scripted model on 127.0.0.1, and a private instance of the runtime (``Runtime.sandbox_env``).
The checks run through the real ``ao`` CLI (``ao new``, ``ao status --json``, ``ao
send``) in subprocesses, so what is checked is exactly what ``ao status`` reports:

1. ``ready``: the spawned agent answers a first prompt and comes back to ``ready``
   (known dialogs are answered on the way, as ``ao new`` does);
2. ``working``: a task whose scripted reply holds the model busy for a few seconds
   shows as ``working``;
3. ``done``: then as ``ready`` again, after the model answered;
4. ``needs_input``: a scripted tool call that needs permission shows as ``needs_input``;
5. ``answer``: ``ao send SESSION no`` answers it and the agent is ``ready`` again.

Everything (the sessions' processes, the private runtime, the model, the scratch
directory) is cleaned up, also on Ctrl-C. The core never prints: progress goes to a
callback and the results are returned.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

from ao import registry
from ao.sdk.contracts import SelfTestable, Versioned
from ao.sdk.errors import AoError, NotFoundError
from ao.selftest import server as st
from ao.selftest.combined import ScriptedModel
from ao.session.agents import _order

if t.TYPE_CHECKING:
    from ao.sdk.contracts import Runtime

StepStatus = t.Literal["ok", "failed", "skipped"]
Progress = t.Callable[[str], None]

STEPS = ("ready", "working", "done", "needs_input", "answer")
BUSY_SECONDS = 4.0
POLL = 0.3
ANSWER_AFTER = 1.0  # seconds between seeing a permission prompt and answering it
RETRY_AFTER = 15.0  # seconds an answered prompt may stay up before it is answered again
SESSION = "st-1"
SELFTEST_FILE = "ao-selftest.txt"  # what the refused tool call would have written
COMMAND = f"echo selftest > {SELFTEST_FILE}"
# CLIs that never ask before running a tool: the permission steps are skipped
NO_PERMISSION_PROMPTS = {"pi": "pi has no permission prompts (every tool runs without asking)"}
# CLIs that ask before a command only in some edit formats: ask about creating a file instead
ASK_BY_WRITING = frozenset({"aider"})
NOT_SUPPORTED = "skipped: no scripted model for this CLI"
KEEP_ENV = ("PATH", "LANG", "LANGUAGE", "TERM", "COLORTERM", "USER", "LOGNAME", "SHELL", "TZ",
            "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV", "SYSTEMROOT")  # fmt: skip


@dataclasses.dataclass
class StepResult:
    """One check of one agent."""

    name: str
    status: StepStatus
    seconds: float
    detail: str

    def to_json(self) -> dict[str, t.Any]:
        """The step object of the ``--json`` contract (v1)."""
        return {"name": self.name, "status": self.status, "seconds": round(self.seconds, 1),
                "detail": self.detail}  # fmt: skip


@dataclasses.dataclass
class AgentResult:
    """The verdict for one agent: ``ok`` (every step passed), ``failed`` or ``skipped``."""

    agent: str
    binary: str
    path: str | None
    version: str | None
    verdict: StepStatus
    detail: str
    seconds: float = 0.0
    steps: list[StepResult] = dataclasses.field(default_factory=list)

    def to_json(self) -> dict[str, t.Any]:
        """The agent object of the ``ao doctor --agents --json`` contract (v1)."""
        return {
            "agent": self.agent,
            "binary": self.binary,
            "path": self.path,
            "version": self.version,
            "verdict": self.verdict,
            "detail": self.detail,
            "seconds": round(self.seconds, 1),
            "steps": [s.to_json() for s in self.steps],
        }


def select(names: t.Sequence[str] = ()) -> list[str]:
    """The agents to check: ``names`` (validated) or every registered agent, in preference order."""

    available = sorted(registry.available("agent"), key=_order)
    unknown = [n for n in names if n not in available]
    if unknown:
        raise NotFoundError(
            f"no agent plugin named {', '.join(map(repr, unknown))}",
            hint=f"choose from {', '.join(available)}",
        )
    if not names:
        return available
    return list(dict.fromkeys(names))


def run_agents(
    names: t.Sequence[str] = (), *, timeout: float = 60.0, progress: Progress | None = None
) -> list[AgentResult]:
    """Self-test each selected agent (see the module doc); skipped ones say why."""
    return [check_agent(name, timeout=timeout, progress=progress) for name in select(names)]


def check_agent(
    name: str, *, timeout: float = 60.0, progress: Progress | None = None
) -> AgentResult:
    """Self-test one agent adapter and its installed CLI."""

    try:
        agent = registry.load("agent", name)
    except AoError as exc:
        return AgentResult(name, "", None, None, "failed", f"the adapter does not load: {exc}")
    binary = agent.binary
    path = shutil.which(binary) if binary else None
    if not isinstance(agent, SelfTestable):
        return AgentResult(name, binary, path, None, "skipped", NOT_SUPPORTED)
    setup = agent.selftest_env
    if path is None:
        return AgentResult(
            name, binary, None, None, "skipped", f"not installed (`{binary}` not on PATH)"
        )
    try:
        version = agent.version() if isinstance(agent, Versioned) else None
    except AoError:
        version = None
    result = AgentResult(name, binary, path, version, "ok", "")
    started = time.monotonic()
    try:
        with _Scratch(name, setup) as scratch:
            _Checks(scratch, result, timeout, progress or (lambda _msg: None)).run()
    finally:
        result.seconds = time.monotonic() - started
    failed = [s for s in result.steps if s.status == "failed"]
    if failed:
        result.verdict = "failed"
        result.detail = f"{failed[0].name}: {failed[0].detail}"
    else:
        done = sum(s.status == "ok" for s in result.steps)
        result.detail = f"{done}/{len(result.steps)} checks passed"
    return result


# ----------------------------------------------------------------------------- scratch


class _Scratch:
    """A temp dir with HOME, AO_HOME, a repo + bare origin and a config; the model; a
    private instance of the default runtime."""

    def __init__(self, agent: str, setup: t.Callable[[str, Path], dict[str, str]]) -> None:
        from ao.config.models import Defaults  # lazy: pydantic loads only where models are built

        self.agent = agent
        self.setup = setup
        self.sandbox = f"ao-doctor-{os.getpid()}"
        self.runtime: Runtime = registry.load("runtime", Defaults().runtime)
        self.root = Path(tempfile.mkdtemp(prefix=f"ao-doctor-{agent}-")).resolve()
        self.env: dict[str, str] = {}
        self.model: t.Any = None

    def __enter__(self) -> _Scratch:
        try:
            self._prepare()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _prepare(self) -> None:
        home = self.root / "home"
        home.mkdir()
        repo, origin = self.root / "repo", self.root / "origin.git"
        env = {k: v for k, v in os.environ.items() if k in KEEP_ENV or k.startswith("LC_")}
        env.update({
            "HOME": str(home), "AO_HOME": str(self.root / "ao-home"),
            "AO_CONFIG": str(self.root / "agent-orchestrator.yaml"),
            **self.runtime.sandbox_env(self.sandbox), "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "ao doctor", "GIT_AUTHOR_EMAIL": "ao-doctor@example.invalid",
            "GIT_COMMITTER_NAME": "ao doctor", "GIT_COMMITTER_EMAIL": "ao-doctor@example.invalid",
        })  # fmt: skip
        self.env = env
        self._git(self.root, "init", "-q", "--bare", "-b", "main", str(origin))
        self._git(self.root, "init", "-q", "-b", "main", str(repo))
        (repo / "README.md").write_text("# ao doctor scratch repository\n")
        self._git(repo, "add", "README.md")
        self._git(repo, "commit", "-q", "-m", "initial")
        self._git(repo, "remote", "add", "origin", str(origin))
        self._git(repo, "push", "-q", "-u", "origin", "main")
        config = {"defaults": {"agent": self.agent},
                  "projects": {"selftest": {"path": str(repo), "sessionPrefix": "st"}}}  # fmt: skip
        # JSON is YAML: no yaml import needed here
        (self.root / "agent-orchestrator.yaml").write_text(json.dumps(config, indent=2) + "\n")
        self.model = ScriptedModel().start()
        self.env.update(self.setup(self.model.url, home))

    def _git(self, cwd: Path, *args: str) -> None:
        subprocess.run(["git", *args], cwd=cwd, env=self.env, check=True, capture_output=True,
                       timeout=30)  # fmt: skip

    def ao(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run the real ``ao`` CLI in the scratch environment."""
        return subprocess.run(
            [sys.executable, "-m", "ao", *args], cwd=self.root, env=self.env,
            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    def close(self) -> None:
        """End the private runtime (every session's processes), stop the model, remove files."""
        with contextlib.suppress(Exception):
            self.runtime.end_sandbox(self.sandbox)
        if self.model is not None:
            self.model.close()
            self.model = None
        shutil.rmtree(self.root, ignore_errors=True)


# ----------------------------------------------------------------------------- checks


class _Failed(Exception):
    pass


class _Checks:
    def __init__(
        self, scratch: _Scratch, result: AgentResult, timeout: float, progress: Progress
    ) -> None:
        self.s = scratch
        self.result = result
        self.timeout = timeout
        self.progress = progress
        self.seen: list[str] = []

    def run(self) -> None:
        no_prompts = NO_PERMISSION_PROMPTS.get(self.result.agent)
        self.s.model.script(
            st.text("OK."),
            st.busy(BUSY_SECONDS, "Done waiting."),
            st.write_file(SELFTEST_FILE, "selftest\n")
            if self.result.agent in ASK_BY_WRITING
            else st.needs_permission(COMMAND),
            st.text("Understood; I did not run it."),
        )
        plan: list[tuple[str, t.Callable[[], str]]] = [
            ("ready", self.ready), ("working", self.working), ("done", self.done),
            ("needs_input", self.needs_input), ("answer", self.answer),
        ]  # fmt: skip
        for index, (name, check) in enumerate(plan):
            if no_prompts and name in ("needs_input", "answer"):
                self.result.steps.append(StepResult(name, "skipped", 0.0, no_prompts))
                continue
            self.progress(f"{self.result.agent}: {name}")
            started = time.monotonic()
            try:
                detail, status = check(), "ok"
            except _Failed as exc:
                detail, status = str(exc), "failed"
            except subprocess.TimeoutExpired as exc:
                detail, status = f"`ao {' '.join(map(str, exc.cmd[3:5]))}` timed out", "failed"
            self.result.steps.append(
                StepResult(name, t.cast(StepStatus, status), time.monotonic() - started, detail)
            )
            if status == "failed":
                for later, _ in plan[index + 1 :]:
                    self.result.steps.append(
                        StepResult(later, "skipped", 0.0, f"not run: {name} failed")
                    )
                return

    # ------------------------------------------------------------------ steps

    def ready(self) -> str:
        r = self.s.ao("new", "Reply with OK.", "--json", "--ready-timeout", str(self.timeout),
                      timeout=self.timeout + 60)  # fmt: skip
        if r.returncode != 0:
            raise _Failed(f"`ao new` failed: {_last_line(r.stderr or r.stdout)}")
        doc = self.wait_for(("ready",), lambda: self.s.model.turns_served() >= 1)
        return f"first prompt answered, then {_evidence(doc)}"

    def working(self) -> str:
        self.send("Wait a moment, then reply.")
        doc = self.wait_for(("working",))
        return _evidence(doc)

    def done(self) -> str:
        doc = self.wait_for(("ready",), lambda: self.s.model.turns_served() >= 2)
        return _evidence(doc)

    def needs_input(self) -> str:
        self.send("Run the command.")
        doc = self.wait_for(("needs_input",))
        return _evidence(doc)

    def answer(self) -> str:
        time.sleep(ANSWER_AFTER)  # as a human would: a menu may take input only once drawn
        sent = self.send("no")
        try:
            doc = self.wait_for(("ready",), timeout=min(self.timeout, RETRY_AFTER))
        except _Failed as exc:
            if "needs_input" not in str(exc):
                raise _Failed(f"{sent}; then {exc}") from None
            # the keys landed before the menu took input: answer once more, and say so
            sent = f"{sent}; still asking, so again: {self.send('no')}"
            doc = self.wait_for(("ready",))
        worktree = doc.get("worktree")
        if worktree and (Path(worktree) / SELFTEST_FILE).exists():
            raise _Failed(f"{SELFTEST_FILE} was written although the answer was no")
        return f"{sent}; then {_evidence(doc)}"

    # ------------------------------------------------------------------ helpers

    def send(self, text: str) -> str:
        r = self.s.ao("send", SESSION, text, "--json", "--wait", str(self.timeout),
                      timeout=self.timeout + 60)  # fmt: skip
        if r.returncode != 0:
            raise _Failed(f"`ao send` failed: {_last_line(r.stderr or r.stdout)}")
        data = json.loads(r.stdout)["data"]
        if data.get("status") != "delivered":
            raise _Failed(f"`ao send` {data.get('status')}: {data.get('detail')}")
        return f"delivered ({data.get('detail')})"

    def status(self) -> dict[str, t.Any]:
        r = self.s.ao("status", SESSION, "--json", timeout=30)
        if r.returncode != 0:
            raise _Failed(f"`ao status` failed: {_last_line(r.stderr or r.stdout)}")
        data: dict[str, t.Any] = json.loads(r.stdout)["data"]
        return data

    def wait_for(
        self,
        states: tuple[str, ...],
        also: t.Callable[[], bool] | None = None,
        timeout: float | None = None,
    ) -> dict[str, t.Any]:
        """Poll ``ao status`` until the activity is one of ``states`` (and ``also`` holds)."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        doc: dict[str, t.Any] = {}
        while True:
            doc = self.status()
            note = f"{doc.get('activity')} ({_evidence(doc)})"
            if not self.seen or self.seen[-1] != note:
                self.seen.append(note)
            state = doc.get("activity")
            if state in states and (also is None or also()):
                return doc
            if state in ("exited", "blocked") and state not in states:
                raise _Failed(f"the agent is {note}")
            if time.monotonic() >= deadline:
                raise _Failed(f"no {'/'.join(states)} within {timeout:g}s; last: {note}")
            time.sleep(POLL)


def _evidence(doc: t.Mapping[str, t.Any]) -> str:
    ev = doc.get("evidence") or {}
    return f"{doc.get('activity')} [{ev.get('source')}] {ev.get('detail')}"


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(no output)"
