"""The ``process`` runtime's supervisor: one PTY per session, served over a unix socket.

``python -m ao_plugins.runtime_process.supervisor SOCKET`` listens on ``SOCKET`` (0600,
in a 0700 directory) and holds every session of the ``process`` runtime that uses it:
the agent is the PTY's session leader (its controlling terminal is the PTY's slave), its
output feeds a screen model (``pyte``) that ``capture`` renders like tmux's
``capture-pane``, and its exit status is kept with its last screen until ``destroy``.

The protocol is one JSON request line per connection and one JSON answer line
(``{"v": 1, "op": ...}`` → ``{"v": 1, "ok": true, "result": ...}``); ``probe`` and
``capture_many`` answer for every session at once. An ``attach`` request turns its
connection into a raw relay of the PTY (the screen first, then output as it comes;
bytes from the client are the user's keystrokes).

Single-threaded (a ``selectors`` loop); it exits after ``IDLE`` seconds without sessions,
or when its socket file is removed or replaced. The sessions' pids are saved beside the
socket, so a supervisor started after one that was killed ends the agents it orphaned
and reports their sessions as exited until they are destroyed.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import fcntl
import json
import os
import pty
import selectors
import signal
import socket
import sys
import termios
import time
import typing as t
from pathlib import Path

from ao_plugins.runtime_process.terminal import (
    CURSOR_KEYS_MODE,
    PASTE_MODE,
    TERM,
    Session,
    key_bytes,
    session_members,
    signal_session,
    start_time,
    winsize,
)

PROTOCOL = 1
IDLE = float(os.environ.get("AO_PROCESS_IDLE", "60"))  # seconds without sessions, then exit
MAX_REQUEST = 64 * 1024 * 1024
LOST_SCREEN = "[ao: this session's supervisor was killed; its screen and exit status are lost]"


class RequestError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def bind_path(path: Path) -> tuple[str, int | None]:
    """An address for ``path`` that fits ``sockaddr_un`` (Linux: through the directory's fd)."""
    if len(os.fsencode(path)) < 100 or not Path("/proc/self/fd").is_dir():
        return str(path), None
    dfd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    return f"/proc/self/fd/{dfd}/{path.name}", dfd


class Supervisor:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.state_file = path.with_name(path.name + ".pids")
        self.sessions: dict[str, Session] = {}
        self.requests: dict[str, int] = {}
        self.sel = selectors.DefaultSelector()
        self.idle_since = time.monotonic()
        self.stopping = False
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.inode = 0

    # ----------------------------------------------------------------- setup

    def listen(self) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        tmp.unlink(missing_ok=True)
        address, dfd = bind_path(tmp)
        try:
            self.listener.bind(address)
        finally:
            if dfd is not None:
                os.close(dfd)
        tmp.chmod(0o600)
        self.listener.listen(64)
        self.adopt_orphans()
        tmp.replace(self.path)  # clients connect only once it is ready
        self.inode = self.path.stat().st_ino
        self.listener.setblocking(False)
        self.sel.register(self.listener, selectors.EVENT_READ, ("listen", None))

    def adopt_orphans(self) -> None:
        """End the agents of a supervisor that was killed; keep their sessions as exited."""
        try:
            saved = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return
        for name, info in saved.items():
            pid = int(info.get("pid") or 0)
            if pid and info.get("start") and start_time(pid) == info["start"]:
                signal_session(pid, signal.SIGKILL)
            session = Session(name, str(info.get("owner", "")), 80, 24)
            session.command = str(info.get("command", ""))
            session.feed(LOST_SCREEN.encode())
            self.sessions[name] = session
        self.save()

    def save(self) -> None:
        data = {
            s.name: {"pid": s.pid, "start": s.start, "owner": s.owner, "command": s.command}
            for s in self.sessions.values()
        }
        tmp = self.state_file.with_name(f".{self.state_file.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)
        tmp.replace(self.state_file)

    # ----------------------------------------------------------------- loop

    def run(self) -> None:
        last_check = time.monotonic()
        while not self.stopping:
            for key, events in self.sel.select(timeout=0.2):
                kind, obj = key.data
                try:
                    if kind == "listen":
                        self.accept()
                    elif kind == "pty":
                        self.on_pty(obj, events)
                    elif kind == "client":
                        self.on_client(key.fileobj, obj)
                    elif kind == "attach":
                        self.on_attach_input(key.fileobj, obj)
                except Exception as exc:  # one bad connection or PTY never ends the others
                    print(f"ao process supervisor: {kind}: {exc!r}", file=sys.stderr, flush=True)
                    if kind in ("client", "attach"):
                        self.drop(t.cast(socket.socket, key.fileobj))
            self.reap()
            self.finish_destroys()
            now = time.monotonic()
            if self.sessions:
                self.idle_since = now
            elif now - self.idle_since > IDLE:
                break
            if now - last_check > 2:
                last_check = now
                if not self.socket_is_ours():
                    break
        self.shutdown()

    def socket_is_ours(self) -> bool:
        try:
            return self.path.stat().st_ino == self.inode
        except OSError:
            return False

    def shutdown(self) -> None:
        for session in list(self.sessions.values()):
            if session.running:
                signal_session(session.pid, signal.SIGKILL)
        deadline = time.monotonic() + 2
        while any(s.running for s in self.sessions.values()) and time.monotonic() < deadline:
            self.reap()
            time.sleep(0.02)
        self.sessions.clear()
        with contextlib.suppress(OSError):
            if self.socket_is_ours():
                self.path.unlink()
                self.state_file.unlink(missing_ok=True)
        self.listener.close()

    def accept(self) -> None:
        with contextlib.suppress(BlockingIOError, InterruptedError):
            conn, _ = self.listener.accept()
            conn.setblocking(False)
            self.sel.register(conn, selectors.EVENT_READ, ("client", bytearray()))

    def drop(self, conn: socket.socket) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(conn)
        for session in self.sessions.values():
            if conn in session.watchers:
                session.watchers.remove(conn)
        conn.close()

    def on_client(self, conn: t.Any, buf: bytearray) -> None:
        try:
            data = conn.recv(1 << 20)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.drop(conn)
            return
        buf += data
        if b"\n" not in buf:
            if len(buf) > MAX_REQUEST:
                self.drop(conn)
            return
        line = bytes(buf[: buf.index(b"\n")])
        try:
            request = json.loads(line)
            if not isinstance(request, dict) or request.get("v") != PROTOCOL:
                raise RequestError("protocol", f"protocol version {PROTOCOL} expected")
            op = str(request.get("op"))
            if op != "stats":
                self.requests[op] = self.requests.get(op, 0) + 1
            if op == "attach":
                self.attach(conn, request)
                return
            result = self.handle(op, request)
            answer: dict[str, t.Any] = {"v": PROTOCOL, "ok": True, "result": result}
        except RequestError as exc:
            answer = {"v": PROTOCOL, "ok": False, "kind": exc.kind, "error": str(exc)}
        except (ValueError, KeyError, TypeError) as exc:
            error = f"bad request: {exc}"
            answer = {"v": PROTOCOL, "ok": False, "kind": "protocol", "error": error}
        self.sel.unregister(conn)
        conn.setblocking(True)
        conn.settimeout(10)
        with contextlib.suppress(OSError):
            conn.sendall(json.dumps(answer).encode() + b"\n")
        conn.close()

    # ----------------------------------------------------------------- requests

    def session(self, request: dict[str, t.Any]) -> Session:
        session = self.sessions.get(str(request["name"]))
        if session is None or session.destroy_at is not None:
            raise RequestError("not_found", f"no session {request['name']!r}")
        return session

    def handle(self, op: str, request: dict[str, t.Any]) -> t.Any:
        if op == "create":
            return self.create(request)
        if op == "probe":
            return {name: s.state() for name, s in self.sessions.items()}
        if op == "list":
            owner = request.get("owner")
            return [
                name
                for name, s in self.sessions.items()
                if owner is None or (owner and s.owner == owner)
            ]
        if op == "paste":
            session = self.session(request)
            data = str(request["text"]).encode("utf-8")
            if session.mode(PASTE_MODE):
                data = b"\x1b[200~" + data + b"\x1b[201~"
            self.write(session, data)
            return None
        if op == "keys":
            session = self.session(request)
            cursor = session.mode(CURSOR_KEYS_MODE)
            self.write(session, b"".join(key_bytes(str(k), cursor) for k in request["keys"]))
            return None
        if op == "input":
            self.write(self.session(request), base64.b64decode(request["data"]))
            return None
        if op == "capture":
            return self.session(request).capture(int(request.get("lines", 200)))
        if op == "capture_many":
            lines = int(request.get("lines", 60))
            return {
                name: self.sessions[name].capture(lines)
                for name in request["names"]
                if name in self.sessions
            }
        if op == "destroy":
            return self.destroy(self.session(request), float(request.get("grace", 3.0)))
        if op == "resize":
            session = self.session(request)
            self.resize(session, int(request["width"]), int(request["height"]))
            return None
        if op == "stats":
            return {"requests": dict(self.requests), "pid": os.getpid()}
        if op == "shutdown":
            self.stopping = True
            return None
        raise RequestError("protocol", f"unknown operation {op!r}")

    def create(self, request: dict[str, t.Any]) -> dict[str, t.Any]:
        name = str(request["name"])
        if name in self.sessions:
            raise RequestError("conflict", f"session {name!r} already exists")
        argv = [str(a) for a in request["argv"]]
        env = {str(k): str(v) for k, v in dict(request.get("env") or {}).items()}
        env["TERM"] = TERM
        cwd = str(request["cwd"])
        width, height = int(request.get("width", 200)), int(request.get("height", 50))
        if not argv:
            raise RequestError("command", "no command to run in the session")
        if not Path(cwd).is_dir():
            raise RequestError("spawn", f"working directory {cwd} does not exist")
        session = Session(name, str(request.get("owner", "")), width, height)
        session.command = Path(argv[0]).name
        pid, fd = pty.fork()
        if pid == 0:  # the child: becomes the agent
            try:
                for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGHUP, signal.SIGINT):
                    signal.signal(sig, signal.SIG_DFL)
                os.chdir(cwd)
                fcntl.ioctl(0, termios.TIOCSWINSZ, winsize(width, height))
                os.execvpe(argv[0], argv, env)
            except OSError as exc:
                os.write(2, f"ao: cannot start {argv[0]!r}: {exc.strerror}\r\n".encode())
            os._exit(127)
        os.set_inheritable(fd, False)
        os.set_blocking(fd, False)
        session.pid, session.fd, session.running = pid, fd, True
        session.start = start_time(pid)

        def reply(data: str) -> None:  # the terminal's answers to the program's queries
            with contextlib.suppress(RequestError):
                self.write(session, data.encode())

        session.screen.write_process_input = reply  # type: ignore[method-assign]
        self.sessions[name] = session
        self.sel.register(fd, selectors.EVENT_READ, ("pty", session))
        self.save()
        return {"target": f"pid:{pid}", "pid": pid}

    def resize(self, session: Session, width: int, height: int) -> None:
        if width < 1 or height < 1:
            return
        session.resize(width, height)
        if session.fd >= 0:
            with contextlib.suppress(OSError):
                fcntl.ioctl(session.fd, termios.TIOCSWINSZ, winsize(width, height))

    def destroy(self, session: Session, grace: float) -> None:
        if session.running:
            signal_session(session.pid, signal.SIGHUP)
            signal_session(session.pid, signal.SIGTERM)
        session.destroy_at = time.monotonic() + max(grace, 0.0)

    def finish_destroys(self) -> None:
        for session in [s for s in self.sessions.values() if s.destroy_at is not None]:
            members = session_members(session.pid) if session.pid else []
            if not session.running and not members:
                self.remove(session)
            elif time.monotonic() >= t.cast(float, session.destroy_at):
                signal_session(session.pid, signal.SIGKILL)

    def remove(self, session: Session) -> None:
        self.close_pty(session)
        for conn in list(session.watchers):
            self.drop(conn)
        self.sessions.pop(session.name, None)
        self.save()

    # ----------------------------------------------------------------- the PTYs

    def write(self, session: Session, data: bytes) -> None:
        if session.fd < 0 or not session.running:
            raise RequestError("not_found", f"session {session.name!r} has exited")
        session.pending += data
        self.flush(session)

    def flush(self, session: Session) -> None:
        while session.pending and session.fd >= 0:
            try:
                n = os.write(session.fd, session.pending[: 1 << 16])
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                session.pending.clear()
                break
            del session.pending[:n]
        if session.fd >= 0:
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if session.pending else 0)
            with contextlib.suppress(KeyError, ValueError):
                self.sel.modify(session.fd, events, ("pty", session))

    def on_pty(self, session: Session, events: int) -> None:
        if events & selectors.EVENT_WRITE:
            self.flush(session)
        if not events & selectors.EVENT_READ:
            return
        try:
            data = os.read(session.fd, 1 << 16)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise
            data = b""
        if not data:  # every holder of the slave closed it: the agent is done
            self.close_pty(session)
            return
        session.feed(data)
        for conn in list(session.watchers):
            try:
                conn.sendall(data)
            except OSError:
                self.drop(conn)

    def close_pty(self, session: Session) -> None:
        if session.fd >= 0:
            with contextlib.suppress(KeyError, ValueError):
                self.sel.unregister(session.fd)
            os.close(session.fd)
            session.fd = -1

    def reap(self) -> None:
        for session in self.sessions.values():
            if not session.running:
                continue
            try:
                pid, status = os.waitpid(session.pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = session.pid, 0
            if pid == 0:
                continue
            if session.fd >= 0:  # what it printed last is on the screen before it reads exited
                with contextlib.suppress(OSError):
                    while chunk := os.read(session.fd, 1 << 16):
                        session.feed(chunk)
            session.running = False
            code = os.waitstatus_to_exitcode(status)
            session.exit_status = code if code >= 0 else 128 - code
            for conn in list(session.watchers):
                self.drop(conn)

    # ----------------------------------------------------------------- attach

    def attach(self, conn: socket.socket, request: dict[str, t.Any]) -> None:
        try:
            session = self.session(request)
        except RequestError as exc:
            answer = {"v": PROTOCOL, "ok": False, "kind": exc.kind, "error": str(exc)}
            self.sel.unregister(conn)
            conn.setblocking(True)
            with contextlib.suppress(OSError):
                conn.sendall(json.dumps(answer).encode() + b"\n")
            conn.close()
            return
        if request.get("width") and request.get("height"):
            self.resize(session, int(request["width"]), int(request["height"]))
        conn.setblocking(True)
        conn.settimeout(5)
        head = {"v": PROTOCOL, "ok": True, "result": {"running": session.running}}
        screen = session.capture(session.screen.lines).replace("\n", "\r\n")
        try:
            conn.sendall(json.dumps(head).encode() + b"\n" + b"\x1b[H\x1b[2J" + screen.encode())
        except OSError:
            self.drop(conn)
            return
        if not session.running:
            self.drop(conn)
            return
        session.watchers.append(conn)
        self.sel.modify(conn, selectors.EVENT_READ, ("attach", session))

    def on_attach_input(self, conn: t.Any, session: Session) -> None:
        try:
            data = conn.recv(1 << 16)
        except (BlockingIOError, InterruptedError, TimeoutError):
            return
        except OSError:
            data = b""
        if not data:
            self.drop(conn)
            return
        with contextlib.suppress(RequestError):
            self.write(session, data)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m ao_plugins.runtime_process.supervisor SOCKET", file=sys.stderr)
        return 2
    for sig in (signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    supervisor = Supervisor(Path(argv[0]))
    signal.signal(signal.SIGTERM, lambda *_: setattr(supervisor, "stopping", True))
    supervisor.listen()
    print(f"ao process supervisor {os.getpid()} listening on {argv[0]}", flush=True)
    supervisor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
