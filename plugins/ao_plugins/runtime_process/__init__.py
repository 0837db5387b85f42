"""The ``process`` runtime: no tmux; each agent runs in a PTY held by a supervisor.

The plugin is a thin client. The supervisor (``supervisor.py``, one per socket: by
default ``$AO_HOME/run/process.sock``, 0600 in a 0700 directory) is started detached by
the first call that finds none, and exits by itself once it has held no session for a
minute. Each call is one JSON request on a new connection; ``probe`` and
``capture_many`` are one request for every session. The agent gets exactly
``RuntimeSpec.env`` (sent over the socket, never on a command line), is its PTY's
session leader, and its session stays after it exits with its screen and exit status
until ``destroy``. ``ao attach`` relays the PTY to the terminal (``attach.py``; detach
with Ctrl-]).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import subprocess
import sys
import time
import typing as t
from collections.abc import Iterator, Mapping
from pathlib import Path

from ao.sdk.contracts import API_VERSION, HostCheck, PaneState, RuntimeHandle, RuntimeSpec
from ao.sdk.errors import CommandError, CommandTimeout, ConflictError, NotFoundError, SpawnError
from ao.sdk.home import ao_home, private_dir
from ao.sdk.textsafe import strip_controls

PROTOCOL = 1
SOCKET_ENV = "AO_PROCESS_SOCKET"  # the supervisor's socket every ao call uses
TIMEOUT = 10.0
START_TIMEOUT = 15.0
MODULE = "ao_plugins.runtime_process"

_ERRORS: dict[str, type[Exception]] = {
    "not_found": NotFoundError,
    "conflict": ConflictError,
    "spawn": SpawnError,
}


class ProcessRuntime:
    """Runs sessions as PTYs of the supervisor on ``AO_PROCESS_SOCKET`` or ``socket``."""

    api_version = API_VERSION
    name = "process"

    def __init__(self, options: Mapping[str, t.Any] | None = None) -> None:
        options = options or {}
        chosen = os.environ.get(SOCKET_ENV) or options.get("socket")
        self.socket = Path(chosen) if chosen else default_socket()

    # --------------------------------------------------------------------- plumbing

    def call(self, op: str, *, start: bool = True, **args: t.Any) -> t.Any:
        """One request, one answer; starts the supervisor when ``start`` and none runs.

        A supervisor that closes its socket for good (idle exit) never reads what is
        still queued on it: that request was not run, and is sent once more."""
        try:
            return self._call(op, start, args)
        except _Unanswered:
            return self._call(op, start, args)

    def _call(self, op: str, start: bool, args: dict[str, t.Any]) -> t.Any:
        request = json.dumps({"v": PROTOCOL, "op": op, **args}).encode() + b"\n"
        with self._connect(start) as conn:
            if conn is None:  # no supervisor runs: it holds no session
                if "name" in args:
                    raise NotFoundError(f"session {args['name']!r} is gone (no supervisor runs)")
                return None
            try:
                conn.sendall(request)
                answer = _read_line(conn)
            except TimeoutError as exc:
                raise CommandTimeout(f"the process supervisor did not answer {op!r}") from exc
            except _Unanswered:
                if connect(self.socket) is not None:  # it still runs: the request failed
                    raise CommandError(f"the process supervisor failed on {op!r}") from None
                raise
            except OSError as exc:
                raise CommandError(f"the process supervisor failed on {op!r}: {exc}") from exc
        doc = json.loads(answer)
        if doc.get("ok"):
            return doc.get("result")
        error = _ERRORS.get(str(doc.get("kind")), CommandError)
        raise error(str(doc.get("error")))

    @contextlib.contextmanager
    def _connect(self, start: bool) -> Iterator[socket.socket | None]:
        conn = connect(self.socket)
        if conn is None and (start or self.orphaned()):
            conn = self._start()
        try:
            yield conn
        finally:
            if conn is not None:
                conn.close()

    def orphaned(self) -> bool:
        """Whether a supervisor died holding sessions (its list of them is still there):
        a new one ends the agents it left and reports their sessions as exited."""
        return self.socket.with_name(self.socket.name + ".pids").exists()

    def _start(self) -> socket.socket:
        """Start the supervisor (once, under a lock) and connect to it."""
        directory = private_dir(self.socket.parent)
        lock = os.open(directory / f"{self.socket.name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            conn = connect(self.socket)
            if conn is not None:
                return conn
            self.socket.unlink(missing_ok=True)  # a dead supervisor's socket
            log = os.open(
                directory / f"{self.socket.name}.log",
                os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                0o600,
            )
            try:
                child = subprocess.Popen(
                    [sys.executable, "-m", f"{MODULE}.supervisor", str(self.socket)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                    start_new_session=True, close_fds=True, cwd="/",
                )  # fmt: skip
            finally:
                os.close(log)
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline:
                conn = connect(self.socket)
                if conn is not None:
                    return conn
                if child.poll() is not None:
                    break
                time.sleep(0.02)
            raise CommandError(
                f"the process supervisor did not start on {self.socket}",
                hint=f"see {directory / (self.socket.name + '.log')}",
            )
        finally:
            os.close(lock)

    # --------------------------------------------------------------------- lifecycle

    def create(self, spec: RuntimeSpec) -> RuntimeHandle:
        """Start ``spec.argv`` as the session leader of a new PTY, with exactly ``spec.env``."""
        if not spec.argv:
            raise CommandError("no command to run in the session")
        if not Path(spec.cwd).is_dir():
            raise SpawnError(
                f"working directory {spec.cwd} does not exist",
                hint="check the project's path and workdir",
            )
        result = self.call(
            "create", name=spec.name, argv=list(spec.argv), cwd=str(spec.cwd),
            env=dict(spec.env), width=spec.width, height=spec.height, owner=spec.owner,
        )  # fmt: skip
        return RuntimeHandle(runtime=self.name, name=spec.name, target=str(result["target"]))

    def destroy(self, handle: RuntimeHandle, *, grace: float = 3.0) -> None:
        """TERM the session's process group (KILL after ``grace``), then remove it."""
        try:
            self.call("destroy", start=False, name=handle.name, grace=grace)
        except NotFoundError:
            return
        deadline = time.monotonic() + grace + 5.0
        while time.monotonic() < deadline:
            if handle.name not in (self.call("list", start=False) or []):
                return
            time.sleep(0.05)
        raise CommandTimeout(f"session {handle.name!r} did not end")

    def probe(self) -> dict[str, PaneState]:
        """Liveness of every session, from one request (none when no supervisor runs)."""
        states = self.call("probe", start=False) or {}
        return {name: PaneState(**state) for name, state in states.items()}

    def list_names(self, owner: str | None = None) -> list[str]:
        """Names of every session; with ``owner``, only those created with that owner."""
        return list(self.call("list", start=False, owner=owner) or [])

    # --------------------------------------------------------------------- input/output

    def paste(self, handle: RuntimeHandle, text: str) -> None:
        """Paste ``text`` byte-exact, bracketed when the program asked for bracketed paste
        (like tmux's ``paste-buffer -p``); escape sequences and controls are removed first
        (an ``ESC [201~`` inside would end the paste and turn the rest into keys)."""
        self._session_call("paste", handle, text=strip_controls(text))

    def send_keys(self, handle: RuntimeHandle, *keys: str) -> None:
        """Press each named key (tmux's names) in order."""
        self._session_call("keys", handle, keys=list(keys))

    def capture(self, handle: RuntimeHandle, lines: int = 200) -> str:
        """The last ``lines`` lines of the rendered screen and its scrollback."""
        return str(self._session_call("capture", handle, lines=lines))

    def capture_many(self, handles: list[RuntimeHandle], lines: int = 60) -> dict[str, str]:
        """Screens of many sessions from one request."""
        if not handles:
            return {}
        screens = self.call("capture_many", start=False, names=[h.name for h in handles],
                            lines=lines)  # fmt: skip
        return {str(k): str(v) for k, v in (screens or {}).items()}

    def _session_call(self, op: str, handle: RuntimeHandle, **args: t.Any) -> t.Any:
        return self.call(op, start=False, name=handle.name, **args)

    def attach_argv(self, handle: RuntimeHandle, *, inside: bool | None = None) -> list[str]:
        """Relay the session's PTY to this terminal (detach with Ctrl-])."""
        return [sys.executable, "-m", f"{MODULE}.attach", str(self.socket), handle.name]

    def handle(self, name: str) -> RuntimeHandle:
        """Sessions are addressed by name; the target is informational."""
        return RuntimeHandle(runtime=self.name, name=name, target=f"={name}")

    # --------------------------------------------------------------------- host

    def host_checks(self) -> list[HostCheck]:
        """A PTY (``/dev/ptmx``) and the screen model (``pyte``)."""
        checks = [HostCheck("pty", Path("/dev/ptmx").exists(), "/dev/ptmx")]
        try:
            import pyte  # lazy: only to report its version

            checks.append(HostCheck("pyte", True, f"pyte {getattr(pyte, '__version__', '')}"))
        except ImportError:
            checks.append(HostCheck("pyte", False, "pyte is missing; pip install pyte"))
        return checks

    def sandbox_env(self, tag: str) -> dict[str, str]:
        """A private supervisor: its own socket ``process-<tag>.sock``."""
        return {SOCKET_ENV: str(default_socket().with_name(f"process-{tag}.sock"))}

    def end_sandbox(self, tag: str) -> None:
        """End every session of that supervisor and the supervisor."""
        ProcessRuntime({"socket": self.sandbox_env(tag)[SOCKET_ENV]}).shutdown()

    def shutdown(self) -> None:
        """Ask the supervisor to kill its sessions and exit; wait until it has."""
        with contextlib.suppress(CommandError):
            self.call("shutdown", start=False)
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline and self.socket.exists():
            time.sleep(0.02)


def default_socket() -> Path:
    return ao_home() / "run" / "process.sock"


def connect(path: Path) -> socket.socket | None:
    """A connection to the supervisor at ``path``; None when none listens there."""
    if not path.parent.is_dir():
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(TIMEOUT)
    try:
        address, dfd = unix_address(path)
    except BaseException:
        conn.close()
        raise
    try:
        conn.connect(address)
    except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError):
        conn.close()
        return None
    except BaseException:
        conn.close()
        raise
    finally:
        if dfd is not None:
            os.close(dfd)
    return conn


def unix_address(path: Path) -> tuple[str, int | None]:
    """An address for ``path`` that fits ``sockaddr_un`` (Linux: through the directory's fd)."""
    if len(os.fsencode(path)) < 100 or not Path("/proc/self/fd").is_dir():
        return str(path), None
    dfd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    return f"/proc/self/fd/{dfd}/{path.name}", dfd


class _Unanswered(Exception):
    """The supervisor closed the connection without an answer."""


def _read_line(conn: socket.socket) -> bytes:
    chunks: list[bytes] = []
    while True:
        try:
            chunk = conn.recv(1 << 20)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            raise _Unanswered
        chunks.append(chunk)
        if b"\n" in chunk:
            return b"".join(chunks)
