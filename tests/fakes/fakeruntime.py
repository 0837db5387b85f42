"""An in-memory runtime: the ``Runtime`` contract without tmux, in the test's own process.

Each session is a ``FakePane``: what its "agent" shows (screen lines, the foreground
command, running or exited) and what it was given (pastes, keys, submitted lines). A
test scripts what the agent shows (``show``, ``work``, ``ready``, ``exit``, ``vanish``)
and can make ``create`` fail (``fail_create``). Input behaves like a shell's: a paste
lands on the input line (echoed after the prompt), Enter submits it (the line stays in
the scrollback, a new prompt follows) and calls ``on_submit`` if set.

Put it under the core with ``Context(loaded, plugins={("runtime", "fake"): runtime})``
and ``defaults.runtime: fake`` in the config (see ``tests/test_runtime_neutral.py``).
"""

from __future__ import annotations

import dataclasses
import itertools
import time
import typing as t
from collections.abc import Callable, Mapping
from pathlib import Path

from ao.sdk.contracts import API_VERSION, HostCheck, PaneState, RuntimeHandle, RuntimeSpec
from ao.sdk.errors import CommandError, ConflictError, NotFoundError, SpawnError

PROMPT = "$ "


@dataclasses.dataclass
class FakePane:
    """One session of the fake runtime."""

    spec: RuntimeSpec
    target: str
    pid: int
    command: str  # the foreground command (`PaneState.current_command`)
    lines: list[str] = dataclasses.field(default_factory=lambda: [PROMPT])
    running: bool = True
    exit_status: int | None = None
    input: str = ""  # pasted or typed, not submitted yet
    pastes: list[str] = dataclasses.field(default_factory=list)
    keys: list[str] = dataclasses.field(default_factory=list)
    submitted: list[str] = dataclasses.field(default_factory=list)
    last_activity: float = dataclasses.field(default_factory=time.time)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def screen(self) -> str:
        return "\n".join(self.lines)

    def state(self) -> PaneState:
        return PaneState(
            alive=True,
            running=self.running,
            exit_status=self.exit_status,
            pid=self.pid,
            current_command=self.command,
            last_activity=self.last_activity,
        )


class FakeRuntime:
    """The Runtime contract in memory; ``calls`` counts each method's calls."""

    api_version = API_VERSION
    name = "fake"

    def __init__(self, options: Mapping[str, t.Any] | None = None) -> None:
        self.options = dict(options or {})
        self.panes: dict[str, FakePane] = {}
        self.destroyed: list[str] = []  # names, in the order they were destroyed
        self.fail_create: BaseException | None = None  # raised by every create while set
        self.on_create: Callable[[FakePane], None] | None = None  # script a new session
        self.on_submit: Callable[[FakePane, str], None] | None = None  # react to Enter
        self.calls: dict[str, int] = {}
        self.sandboxes: set[str] = set()
        self._pids = itertools.count(40000)
        self._targets = itertools.count(1)

    def _count(self, method: str) -> None:
        self.calls[method] = self.calls.get(method, 0) + 1

    def _pane(self, handle: RuntimeHandle) -> FakePane:
        pane = self.panes.get(handle.name)
        if pane is None or handle.target not in (pane.target, f"={pane.name}"):
            raise NotFoundError(f"fake session {handle.name} ({handle.target}) is gone")
        return pane

    # --------------------------------------------------------------------- the contract

    def create(self, spec: RuntimeSpec) -> RuntimeHandle:
        self._count("create")
        if self.fail_create is not None:
            raise self.fail_create
        if not spec.argv:
            raise CommandError("no command to run in the session")
        if not Path(spec.cwd).is_dir():
            raise SpawnError(f"working directory {spec.cwd} does not exist")
        if spec.name in self.panes:
            raise ConflictError(f"fake session {spec.name!r} already exists")
        pane = FakePane(
            spec=spec,
            target=f"%{next(self._targets)}",
            pid=next(self._pids),
            command=Path(spec.argv[0]).name,
        )
        self.panes[spec.name] = pane
        if self.on_create is not None:
            self.on_create(pane)
        return RuntimeHandle(runtime=self.name, name=spec.name, target=pane.target)

    def destroy(self, handle: RuntimeHandle, *, grace: float = 3.0) -> None:
        self._count("destroy")
        if self.panes.pop(handle.name, None) is not None:
            self.destroyed.append(handle.name)

    def probe(self) -> dict[str, PaneState]:
        self._count("probe")
        return {name: pane.state() for name, pane in self.panes.items()}

    def list_names(self, owner: str | None = None) -> list[str]:
        self._count("list_names")
        return [
            name for name, pane in self.panes.items()
            if owner is None or (owner and pane.spec.owner == owner)
        ]  # fmt: skip

    def paste(self, handle: RuntimeHandle, text: str) -> None:
        self._count("paste")
        pane = self._pane(handle)
        pane.pastes.append(text)
        pane.input += text
        pane.lines[-1] = PROMPT + pane.input

    def send_keys(self, handle: RuntimeHandle, *keys: str) -> None:
        self._count("send_keys")
        pane = self._pane(handle)
        for key in keys:
            pane.keys.append(key)
            if key != "Enter" or not pane.running:
                continue
            line, pane.input = pane.input, ""
            pane.submitted.append(line)
            pane.lines.append(PROMPT)
            pane.last_activity = time.time()
            if self.on_submit is not None:
                self.on_submit(pane, line)

    def capture(self, handle: RuntimeHandle, lines: int = 200) -> str:
        self._count("capture")
        return "\n".join(self._pane(handle).lines[-lines:])

    def capture_many(self, handles: list[RuntimeHandle], lines: int = 60) -> dict[str, str]:
        self._count("capture_many")
        return {
            h.name: "\n".join(self.panes[h.name].lines[-lines:])
            for h in handles
            if h.name in self.panes
        }

    def attach_argv(self, handle: RuntimeHandle, *, inside: bool | None = None) -> list[str]:
        return ["fake-attach", "--switch" if inside else "--attach", handle.name]

    def handle(self, name: str) -> RuntimeHandle:
        pane = self.panes.get(name)
        return RuntimeHandle(self.name, name, pane.target if pane else f"={name}")

    def host_checks(self) -> list[HostCheck]:
        return [HostCheck("fake", True, "in memory")]

    def sandbox_env(self, tag: str) -> dict[str, str]:
        self.sandboxes.add(tag)
        return {}

    def end_sandbox(self, tag: str) -> None:
        self.sandboxes.discard(tag)

    # --------------------------------------------------------------------- scripting

    def pane(self, session: str) -> FakePane:
        """The pane of a session, by its runtime name or its session id."""
        if session in self.panes:
            return self.panes[session]
        found = [p for name, p in self.panes.items() if name.endswith(f"-{session}")]
        if len(found) != 1:
            raise KeyError(f"no single fake session for {session!r}: {sorted(self.panes)}")
        return found[0]

    def show(self, session: str, *lines: str, command: str | None = None) -> FakePane:
        """Replace the screen (and, with ``command``, the foreground command)."""
        pane = self.pane(session)
        pane.lines = list(lines) or [""]
        if command is not None:
            pane.command = command
        pane.last_activity = time.time()
        return pane

    def work(self, session: str, command: str = "python3") -> FakePane:
        """A foreground program other than the agent's own: the shell agent reads working."""
        pane = self.pane(session)
        pane.command = command
        pane.last_activity = time.time()
        return pane

    def ready(self, session: str) -> FakePane:
        """The agent's own program in the foreground, a prompt on screen."""
        pane = self.pane(session)
        pane.command = Path(pane.spec.argv[0]).name
        pane.lines.append(PROMPT)
        return pane

    def exit(self, session: str, status: int = 0) -> FakePane:
        """The agent's process ended; the session stays (like ``remain-on-exit``)."""
        pane = self.pane(session)
        pane.running, pane.exit_status = False, status
        return pane

    def vanish(self, session: str) -> None:
        """The session disappears without ``destroy`` (a reboot, a killed server)."""
        del self.panes[self.pane(session).name]
