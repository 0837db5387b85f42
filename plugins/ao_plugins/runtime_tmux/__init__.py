"""The ``tmux`` runtime: each session is a tmux session whose only pane runs the agent.

The agent command is the pane's process (never typed into a login shell), the pane stays
after the process exits (``remain-on-exit``) so its exit status and last screen remain
readable, every target is exact (``=name`` or a pane id), and liveness for all sessions
comes from a single ``list-panes -a`` call.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import sys
import time
import typing as t
import uuid
from collections.abc import Mapping
from pathlib import Path

from ao.sdk import proc
from ao.sdk.contracts import API_VERSION, HostCheck, PaneState, RuntimeHandle, RuntimeSpec
from ao.sdk.errors import CommandError, ConflictError, NotFoundError, SpawnError
from ao.sdk.home import write_env_file
from ao.sdk.proc import pid_alive
from ao.sdk.textsafe import strip_controls

TIMEOUT = 10.0
SOCKET_ENV = "AO_TMUX_SOCKET"  # the socket (``tmux -L`` name, or a path) every ao call uses
MIN_VERSION = (3, 0)
LAUNCHER = Path(__file__).with_name("envexec.py")
STALE_ENV_FILE = 600.0  # seconds: a launcher reads its file within moments of the pane starting
ENV_FILE_PREFIX = "env-"
OWNER_OPTION = "@ao_owner"  # a user option on each session: which ao state root made it
_FIELDS = (
    "#{session_name}",
    "#{pane_id}",
    "#{pane_pid}",
    "#{pane_dead}",
    "#{pane_dead_status}",
    "#{pane_current_command}",
    "#{window_activity}",
)


class TmuxRuntime:
    """Runs sessions in tmux, on the socket chosen by ``AO_TMUX_SOCKET`` or ``socket``."""

    api_version = API_VERSION
    name = "tmux"

    def __init__(self, options: Mapping[str, t.Any] | None = None) -> None:
        options = options or {}
        self.socket: str | None = os.environ.get(SOCKET_ENV) or options.get("socket")

    # --------------------------------------------------------------------- plumbing

    def base_argv(self) -> list[str]:
        """``tmux`` plus the socket selection every call needs."""
        if not self.socket:
            return ["tmux"]
        return ["tmux", "-S" if "/" in self.socket else "-L", self.socket]

    def _tmux(self, *args: str, input: str | None = None, check: bool = True) -> proc.Result:
        return proc.run([*self.base_argv(), *args], timeout=TIMEOUT, input=input, check=check)

    # --------------------------------------------------------------------- lifecycle

    def create(self, spec: RuntimeSpec) -> RuntimeHandle:
        """Start ``spec.argv`` as the pane's process in a new detached session."""
        if not spec.argv:
            raise CommandError("no command to run in the session")
        if not Path(spec.cwd).is_dir():
            # tmux would fall back to its server's cwd and run the agent somewhere else
            raise SpawnError(
                f"working directory {spec.cwd} does not exist",
                hint="check the project's path and workdir",
            )
        # The pane gets spec.env exactly (not the tmux server's environment), through a
        # private file the launcher reads and deletes: never on a command line.
        env_file = write_env_file(spec.env, ENV_FILE_PREFIX, STALE_ENV_FILE)
        # With two or more arguments tmux execs the argv directly, so nothing is
        # interpreted by a shell. Chaining set-option in the same tmux call applies
        # remain-on-exit before the server's event loop can reap a process that exits at once.
        try:
            result = self._tmux(
                "new-session", "-d", "-s", spec.name, "-x", str(spec.width),
                "-y", str(spec.height), "-c", str(spec.cwd), "-P", "-F", "#{pane_id}",
                *launcher_argv(env_file), *spec.argv,
                ";", "set-option", "-w", "-t", f"={spec.name}:", "remain-on-exit", "on",
                ";", "set-option", "-t", f"={spec.name}:", OWNER_OPTION, spec.owner,
                check=False,
            )  # fmt: skip
        except BaseException:
            env_file.unlink(missing_ok=True)
            raise
        if result.returncode != 0:
            env_file.unlink(missing_ok=True)
            if "duplicate session" in result.stderr:
                raise ConflictError(
                    f"tmux session {spec.name!r} already exists", hint="run `ao gc`"
                )
            raise CommandError(
                f"tmux could not create session {spec.name!r}: {result.stderr.strip()}"
            )
        pane_id = result.stdout.strip().splitlines()[0]
        return RuntimeHandle(runtime=self.name, name=spec.name, target=pane_id)

    def destroy(self, handle: RuntimeHandle, *, grace: float = 3.0) -> None:
        """End the pane's whole process group (TERM, then KILL), then the tmux session."""
        pid = self._pane_pid(handle)
        if pid:
            _end_process_tree(pid, grace)
        self._tmux("kill-session", "-t", f"={handle.name}", check=False)

    def _pane_pid(self, handle: RuntimeHandle) -> int | None:
        r = self._tmux("display-message", "-p", "-t", handle.target, "#{pane_pid}", check=False)
        text = r.stdout.strip()
        return int(text) if r.returncode == 0 and text.isdigit() else None

    def probe(self) -> dict[str, PaneState]:
        """Liveness of every tmux session on the socket, from one ``list-panes -a``."""
        r = self._tmux("list-panes", "-a", "-F", PANE_FORMAT, check=False)
        if r.returncode != 0:
            return {}  # no server running: nothing is alive
        return parse_panes(r.stdout)

    def list_names(self, owner: str | None = None) -> list[str]:
        """Names of every tmux session on the socket; with ``owner``, only those whose
        ``@ao_owner`` session option (set at creation) is exactly ``owner``."""
        fmt = "#{session_name}\t#{" + OWNER_OPTION + "}"
        r = self._tmux("list-sessions", "-F", fmt, check=False)
        if r.returncode != 0:
            return []
        names = []
        for line in r.stdout.splitlines():
            name, _, tag = line.partition("\t")
            if owner is None or (owner and tag == owner):
                names.append(name)
        return names

    # --------------------------------------------------------------------- input/output

    def paste(self, handle: RuntimeHandle, text: str) -> None:
        """Paste ``text`` as one bracketed paste (newlines kept as LF).

        Escape sequences and control characters are removed (text without them is pasted
        byte-exact): an ``ESC [201~`` inside would end the paste and turn the rest into keys.
        """
        text = strip_controls(text)
        buffer = f"ao-{uuid.uuid4().hex[:12]}"
        self._tmux("load-buffer", "-b", buffer, "-", input=text)
        r = self._tmux(
            "paste-buffer", "-p", "-r", "-d", "-b", buffer, "-t", handle.target, check=False
        )
        if r.returncode != 0:
            self._tmux("delete-buffer", "-b", buffer, check=False)
            raise NotFoundError(f"session pane {handle.target} is gone: {r.stderr.strip()}")

    def send_keys(self, handle: RuntimeHandle, *keys: str) -> None:
        """Press each named key in order."""
        r = self._tmux("send-keys", "-t", handle.target, *keys, check=False)
        if r.returncode != 0:
            raise NotFoundError(f"session pane {handle.target} is gone: {r.stderr.strip()}")

    def capture(self, handle: RuntimeHandle, lines: int = 200) -> str:
        """The last ``lines`` lines of screen plus scrollback, wrapped lines joined."""
        r = self._tmux(
            "capture-pane", "-p", "-J", "-t", handle.target, "-S", f"-{max(lines, 1)}", check=False
        )
        if r.returncode != 0:
            raise NotFoundError(f"session pane {handle.target} is gone: {r.stderr.strip()}")
        text = r.stdout.rstrip("\n")
        return "\n".join(text.splitlines()[-lines:])

    def capture_many(self, handles: list[RuntimeHandle], lines: int = 60) -> dict[str, str]:
        """Screens of many panes from one tmux call (separated by marker lines)."""
        if not handles:
            return {}
        marker = f"@@ao-{uuid.uuid4().hex[:8]}@@"
        args: list[str] = []
        for h in handles:
            if args:
                args.append(";")
            args += ["capture-pane", "-p", "-J", "-t", h.target, "-S", f"-{lines}", ";"]
            args += ["display-message", "-p", "-t", h.target, f"{marker}{h.name}"]
        r = self._tmux(*args, check=False)
        screens: dict[str, str] = {}
        chunk: list[str] = []
        for line in r.stdout.split("\n"):
            if line.startswith(marker):
                screens[line[len(marker) :]] = "\n".join(chunk).rstrip("\n")
                chunk = []
            else:
                chunk.append(line)
        return screens

    def attach_argv(self, handle: RuntimeHandle, *, inside: bool | None = None) -> list[str]:
        """``tmux attach`` (or ``switch-client`` from inside tmux: ``$TMUX`` is set, unless
        ``inside`` says otherwise) to the exact session."""
        if inside is None:
            inside = bool(os.environ.get("TMUX"))
        verb = "switch-client" if inside else "attach-session"
        return [*self.base_argv(), verb, "-t", f"={handle.name}"]

    def handle(self, name: str) -> RuntimeHandle:
        """The exact target of session ``name``'s window (``=name:``)."""
        return RuntimeHandle(runtime=self.name, name=name, target=f"={name}:")

    # --------------------------------------------------------------------- host

    def host_checks(self) -> list[HostCheck]:
        """tmux on PATH, version 3.0 or newer."""
        found = None
        if shutil.which("tmux"):
            with contextlib.suppress(Exception):
                r = proc.run(["tmux", "-V"], timeout=TIMEOUT, check=False)
                found = r.stdout.strip() or r.stderr.strip() or None
        if found is None:
            return [HostCheck("tmux", False, "tmux not found on PATH; install tmux 3.0 or newer")]
        m = re.search(r"(\d+)\.(\d+)", found)
        ok = m is not None and (int(m.group(1)), int(m.group(2))) >= MIN_VERSION
        return [HostCheck("tmux", ok, found + ("" if ok else " (need 3.0+)"))]

    def sandbox_env(self, tag: str) -> dict[str, str]:
        """A private tmux server: the socket ``tag`` (``tmux -L tag``)."""
        return {SOCKET_ENV: tag}

    def end_sandbox(self, tag: str) -> None:
        """Kill every pane's process group and the ``tag`` server; remove its socket file
        (tmux leaves it behind after ``kill-server``)."""
        tmux = ["tmux", "-L", tag]
        with contextlib.suppress(Exception):
            r = proc.run([*tmux, "list-panes", "-a", "-F", "#{pane_pid}"], timeout=TIMEOUT,
                         check=False)  # fmt: skip
            for pid in r.stdout.split():
                if pid.isdigit():
                    with contextlib.suppress(OSError):
                        os.killpg(int(pid), signal.SIGKILL)
        with contextlib.suppress(Exception):
            proc.run([*tmux, "kill-server"], timeout=TIMEOUT, check=False)
        socket_file(tag).unlink(missing_ok=True)


PANE_FORMAT = "\t".join(_FIELDS)  # what ``probe`` asks ``list-panes -a`` for


def parse_panes(text: str) -> dict[str, PaneState]:
    """The states in ``list-panes -a -F PANE_FORMAT`` output (a session's first pane)."""
    states: dict[str, PaneState] = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != len(_FIELDS) or parts[0] in states:
            continue
        name, _pane, pid, dead, status, command, activity = parts
        states[name] = PaneState(
            alive=True,
            running=dead != "1",
            exit_status=int(status) if dead == "1" and status.lstrip("-").isdigit() else None,
            pid=int(pid) if pid.isdigit() else None,
            current_command=command,
            last_activity=float(activity) if activity.isdigit() else None,
        )
    return states


def launcher_argv(env_file: Path) -> list[str]:
    """The pane's command before the agent's argv: start it with ``env_file``'s environment."""
    return [sys.executable, "-I", "-S", str(LAUNCHER), str(env_file), "--"]


def socket_file(name: str) -> Path:
    """Where ``tmux -L name`` keeps its socket (it stays after ``kill-server``)."""
    return Path(os.environ.get("TMUX_TMPDIR") or "/tmp", f"tmux-{os.getuid()}", name)


def _session_members(sid: int) -> list[int]:
    """Pids of every process in session ``sid`` (the pane's children, even re-grouped ones)."""
    members = []
    for entry in os.listdir("/proc") if Path("/proc").is_dir() else []:
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = Path(f"/proc/{entry}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[3]) == sid:  # fields: state ppid pgrp session ...
                members.append(int(entry))
    return members


def _signal_all(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
    for member in _session_members(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(member, sig)


def _end_process_tree(pid: int, grace: float) -> None:
    """TERM the pane's process group and session, wait ``grace`` seconds, then KILL."""
    _signal_all(pid, signal.SIGHUP)
    _signal_all(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not pid_alive(pid) and not _session_members(pid):
            return
        time.sleep(0.05)
    _signal_all(pid, signal.SIGKILL)
