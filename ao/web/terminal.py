"""The browser terminals: one shared attachment per session, however many viewers.

An ``Attachment`` runs the runtime's view command (``Orchestrator.view_command``, the
command a human would run to watch the session) in a pseudo-terminal and relays it: every
byte the view prints goes to every viewer, in order. The bytes since the view started are
kept (up to ``HISTORY``), so a viewer who joins later replays them into a fresh terminal
and sees the same screen; once the history is full the view is started again (it draws the
whole screen anew) and the viewers reset their terminals first. The last viewer to leave
ends the view.

Input is read-only by default: a viewer's keystrokes reach the pseudo-terminal only after
that viewer unlocked input on its own (authenticated) websocket; a locked viewer's are
dropped. The pseudo-terminal has the size a viewer last asked for, and every viewer is
told it (one view, one size; the runtime's session follows it as it would a human's
terminal).

Frames sent to viewers: ``bytes`` (the view's output) or ``str`` (a JSON control message:
``size``, ``reset``, ``exit``, ``input``, ``error``). See docs/dashboard.md, "Terminals".
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import json
import logging
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import threading
import typing as t

from starlette.websockets import WebSocket, WebSocketDisconnect

from ao.sdk.errors import AoError
from ao.session.environment import caller_environment
from ao.web.errors import error_body

if t.TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from ao.api import Orchestrator

Frame = bytes | str
log = logging.getLogger("ao.web")

HISTORY = 512 * 1024  # bytes of output kept for late viewers before the view restarts
VIEWER_BACKLOG = 8 * 1024 * 1024  # a viewer this far behind is disconnected (it may rejoin)
INPUT_BACKLOG = 1024 * 1024  # input not yet taken by the view; more is dropped
MIN_COLS, MAX_COLS, MIN_ROWS, MAX_ROWS = 10, 500, 3, 200
READ_SIZE = 65536

# Runs the view with the pseudo-terminal as its controlling terminal (a new session), so
# resizing the pseudo-terminal reaches it as SIGWINCH. A separate interpreter because
# forking this threaded server to run Python code in the child is unsafe.
_SPAWN = (
    "import fcntl, os, sys, termios\n"
    "os.setsid()\n"
    "fcntl.ioctl(0, termios.TIOCSCTTY, 0)\n"
    "os.execvp(sys.argv[1], sys.argv[1:])\n"
)


def control(kind: str, **fields: t.Any) -> str:
    """A control message for viewers (a websocket text frame)."""
    return json.dumps({"type": kind, **fields}, separators=(",", ":"))


def clamp_size(cols: int, rows: int) -> tuple[int, int]:
    """A terminal size within what the server accepts."""
    return max(MIN_COLS, min(MAX_COLS, cols)), max(MIN_ROWS, min(MAX_ROWS, rows))


def view_environment() -> dict[str, str]:
    """The view's environment: this process's, minus its own terminal's (it may run inside
    a terminal multiplexer whose client refuses to nest), as a UTF-8 xterm."""
    env = caller_environment()
    env.update(TERM="xterm-256color", COLORTERM="truecolor")
    if not any(
        "utf-8" in env.get(key, "").lower().replace("utf8", "utf-8")
        for key in ("LC_ALL", "LC_CTYPE", "LANG")
    ):
        env.pop("LC_ALL", None)
        env["LC_CTYPE"] = "C.UTF-8"  # a browser terminal is UTF-8 whatever the server's locale
    return env


class Viewer:
    """One websocket's place in an attachment: its queue of frames and its input lock."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Frame | None] = asyncio.Queue()
        self.backlog = 0  # bytes queued, not yet sent
        self.unlocked = False
        self.dropped = False  # fell too far behind: its sender ends

    def put(self, frame: Frame) -> None:
        """Queue ``frame``; a viewer too far behind gets an end marker instead."""
        if self.dropped:
            return
        self.backlog += len(frame)
        if self.backlog > VIEWER_BACKLOG:
            self.dropped = True
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(frame)

    def end(self) -> None:
        """No more frames: the sender stops after the queued ones."""
        self.queue.put_nowait(None)

    async def frames(self) -> AsyncIterator[Frame]:
        """The queued frames, in order, until the end marker."""
        while True:
            frame = await self.queue.get()
            if frame is None:
                return
            self.backlog -= len(frame)
            yield frame


class Attachment:
    """One view of a session in a pseudo-terminal, shared by its viewers."""

    def __init__(self, argv: list[str], cols: int, rows: int) -> None:
        self.argv = argv
        self.cols, self.rows = clamp_size(cols, rows)
        self.viewers: set[Viewer] = set()
        # what a joining viewer replays: control messages, and the output between them
        # joined into one buffer (keystroke echoes arrive a byte at a time)
        self.history: list[str | bytearray] = []
        self.history_bytes = 0
        self.ended = False
        self.starts = 0  # how many times the view was started (1 + restarts)
        self._proc: subprocess.Popen[bytes] | None = None
        self._master: int | None = None
        self._pending_input = bytearray()
        self._loop = asyncio.get_running_loop()

    # ------------------------------------------------------------------ the view

    def start(self) -> None:
        """Start the view in a new pseudo-terminal of the current size (OSError if the
        command cannot run)."""
        master, slave = pty.openpty()
        try:
            _set_size(slave, self.cols, self.rows)
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _SPAWN, *self.argv],
                stdin=slave, stdout=slave, stderr=slave, env=view_environment(),
                close_fds=True,
            )  # fmt: skip
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        self._master = master
        self.starts += 1
        self.history = [control("size", cols=self.cols, rows=self.rows)]
        self.history_bytes = 0
        self._loop.add_reader(master, self._readable)

    def _stop_view(self) -> None:
        """End the view's process and close the pseudo-terminal (idempotent)."""
        master, proc = self._master, self._proc
        self._master, self._proc = None, None
        self._pending_input.clear()
        if master is not None:
            self._loop.remove_reader(master)
            self._loop.remove_writer(master)
            os.close(master)  # the view gets a hangup
        if proc is not None and proc.poll() is None:
            _signal(proc, signal.SIGTERM)
            reap(proc)

    def _readable(self) -> None:
        master = self._master
        if master is None:
            return
        try:
            data = os.read(master, READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:  # EIO: every holder of the terminal's other end closed it
            if exc.errno != errno.EIO:
                log.warning("reading a session view failed: %s", exc)
            data = b""
        if not data:
            self._view_ended()
            return
        self._broadcast(data)
        if self.history_bytes > HISTORY:
            self._restart()

    def _view_ended(self) -> None:
        """The view's process is gone (the session ended, or its view was detached)."""
        proc = self._proc
        self._stop_view()
        code = proc.poll() if proc is not None else None
        self.ended = True
        self._broadcast(control("exit", detail="the session's view ended", code=code))
        for viewer in self.viewers:
            viewer.end()

    def _restart(self) -> None:
        """Start the view again: it draws the whole screen, so the history starts over."""
        self._stop_view()
        self._broadcast(control("reset"), record=False)
        try:
            self.start()
        except OSError as exc:
            self.ended = True
            self._broadcast(control("exit", detail=f"the view could not restart: {exc}"))
            for viewer in self.viewers:
                viewer.end()
            return
        for viewer in self.viewers:
            viewer.put(control("size", cols=self.cols, rows=self.rows))

    def close(self) -> None:
        """End the view (the last viewer left, or the server stops)."""
        self.ended = True
        self._stop_view()

    # ------------------------------------------------------------------ viewers

    def join(self) -> Viewer:
        """A new viewer, its queue primed with the history (the screen so far)."""
        viewer = Viewer()
        for frame in self.history:
            viewer.put(frame if isinstance(frame, str) else bytes(frame))
        self.viewers.add(viewer)
        return viewer

    def leave(self, viewer: Viewer) -> None:
        """``viewer`` is gone."""
        self.viewers.discard(viewer)
        viewer.end()

    def _broadcast(self, frame: Frame, *, record: bool = True) -> None:
        if record:
            self._record(frame)
        for viewer in self.viewers:
            viewer.put(frame)

    def _record(self, frame: Frame) -> None:
        if isinstance(frame, str):
            self.history.append(frame)
            return
        last = self.history[-1] if self.history else None
        if isinstance(last, bytearray):
            last += frame
        else:
            self.history.append(bytearray(frame))
        self.history_bytes += len(frame)

    def resize(self, cols: int, rows: int) -> None:
        """Give the view this size (every viewer is told)."""
        cols, rows = clamp_size(cols, rows)
        if (cols, rows) == (self.cols, self.rows) or self._master is None:
            return
        self.cols, self.rows = cols, rows
        _set_size(self._master, cols, rows)  # the kernel sends the view SIGWINCH
        self._broadcast(control("size", cols=cols, rows=rows))

    def write(self, viewer: Viewer, data: bytes) -> bool:
        """Type ``data`` into the view for ``viewer``: False (nothing typed) while its
        input is locked."""
        if not viewer.unlocked or self._master is None or not data:
            return False
        if len(self._pending_input) + len(data) > INPUT_BACKLOG:
            return False
        self._pending_input += data
        self._flush_input()
        return True

    def _flush_input(self) -> None:
        master = self._master
        if master is None:
            return
        try:
            written = os.write(master, self._pending_input) if self._pending_input else 0
        except BlockingIOError:
            written = 0
        except OSError:
            self._pending_input.clear()
            return
        del self._pending_input[:written]
        self._loop.remove_writer(master)
        if self._pending_input:  # the terminal's buffer is full: go on when it drains
            self._loop.add_writer(master, self._flush_input)


def reap(proc: subprocess.Popen[bytes], grace: float = 3.0) -> None:
    """Reap ``proc`` without blocking the event loop: a thread waits ``grace`` seconds,
    then kills its process group."""

    def wait() -> None:
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            _signal(proc, signal.SIGKILL)
            proc.wait()

    threading.Thread(target=wait, name="ao-view-reaper", daemon=True).start()


def _signal(proc: subprocess.Popen[bytes], sig: int) -> None:
    """Signal the view's process group (its own session: see ``_SPAWN``), or the process
    alone if it died before making one."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)
    except PermissionError:
        pass


def _set_size(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class TerminalHub:
    """The attachments of one server, keyed by the view command (one per session)."""

    def __init__(self) -> None:
        self._views: dict[tuple[str, ...], Attachment] = {}

    @property
    def attachments(self) -> int:
        """How many views run."""
        return len(self._views)

    @property
    def viewers(self) -> int:
        """How many viewers watch them."""
        return sum(len(a.viewers) for a in self._views.values())

    @contextlib.asynccontextmanager
    async def viewing(
        self, argv: list[str], cols: int, rows: int
    ) -> AsyncIterator[tuple[Attachment, Viewer]]:
        """Join the view of ``argv`` (started, at ``cols`` x ``rows``, if none runs) for
        the block; the last viewer to leave ends it. OSError when it cannot start."""
        key = tuple(argv)
        attachment = self._views.get(key)
        if attachment is None or attachment.ended:
            attachment = Attachment(argv, cols, rows)
            attachment.start()
            self._views[key] = attachment
        viewer = attachment.join()
        try:
            yield attachment, viewer
        finally:
            attachment.leave(viewer)
            if not attachment.viewers:
                attachment.close()
                if self._views.get(key) is attachment:
                    del self._views[key]

    def close(self) -> None:
        """End every view (the server stops)."""
        for attachment in list(self._views.values()):
            attachment.close()
            for viewer in attachment.viewers:
                viewer.end()
        self._views.clear()


async def serve_viewer(
    ws: WebSocket,
    hub: TerminalHub,
    api: Orchestrator,
    session_id: str,
    *,
    project: str | None,
    cols: int,
    rows: int,
) -> None:
    """One browser terminal: the session's shared view to ``ws``, ``ws``'s input (once it
    unlocked it) to the view. A failure to find the session or start its view is an
    ``error`` message, then the socket closes with 4000 + the CLI's exit code."""
    await ws.accept()
    try:
        argv = await asyncio.to_thread(api.view_command, session_id, project=project)
        async with hub.viewing(argv, cols, rows) as (attachment, viewer):
            receiver = asyncio.create_task(_receive(ws, attachment, viewer))
            try:
                async for frame in viewer.frames():
                    if isinstance(frame, bytes):
                        await ws.send_bytes(frame)
                    else:
                        await ws.send_text(frame)
                if not receiver.done():  # the view ended, or this viewer fell behind
                    await ws.close(1013 if viewer.dropped else 1000)
            finally:
                receiver.cancel()
    except AoError as exc:
        await _fail(ws, exc.exit_code, exc.message, exc.hint)
    except OSError as exc:
        await _fail(ws, 6, f"the session's view could not start: {exc}", None)
    except (WebSocketDisconnect, RuntimeError):
        pass  # the browser left while a frame was on its way


async def _fail(ws: WebSocket, code: int, message: str, hint: str | None) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        await ws.send_text(control("error", error=error_body(code, message, hint)["error"]))
        await ws.close(4000 + code)


async def _receive(ws: WebSocket, attachment: Attachment, viewer: Viewer) -> None:
    """The viewer's messages until it leaves: ``resize``, ``unlock``, ``lock``, ``input``
    (text) or binary input."""
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes")
            if data is not None:
                _type(attachment, viewer, data)
                continue
            _control(attachment, viewer, message.get("text") or "")
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        viewer.end()


def _control(attachment: Attachment, viewer: Viewer, text: str) -> None:
    try:
        doc = json.loads(text)
        kind = doc["type"]
    except (ValueError, TypeError, KeyError):
        viewer.put(control("error", error=error_body(2, "not a terminal message")["error"]))
        return
    if kind == "resize":
        cols, rows = doc.get("cols"), doc.get("rows")
        if isinstance(cols, int) and isinstance(rows, int):
            attachment.resize(cols, rows)
    elif kind in ("unlock", "lock"):
        viewer.unlocked = kind == "unlock"
        viewer.put(control("input", unlocked=viewer.unlocked))
    elif kind == "input" and isinstance(doc.get("data"), str):
        _type(attachment, viewer, doc["data"].encode())
    else:
        viewer.put(control("error", error=error_body(2, f"unknown message {kind!r}")["error"]))


def _type(attachment: Attachment, viewer: Viewer, data: bytes) -> None:
    if not attachment.write(viewer, data) and not viewer.unlocked:
        viewer.put(control("input", unlocked=False))  # the page shows it is locked
