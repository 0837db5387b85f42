"""A session of the ``process`` runtime's supervisor: the agent on its PTY and the screen
its output draws (``pyte``), and what a terminal does around it: key names to bytes,
window sizes, and signalling the agent's whole session.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import time
import typing as t
from pathlib import Path

import pyte

HISTORY = 2000  # scrollback lines kept per session
TERM = "xterm-256color"
PASTE_MODE = 2004 << 5  # pyte stores private modes shifted by 5
CURSOR_KEYS_MODE = 1 << 5  # DECCKM: arrows send ESC O x

KEYS: dict[str, bytes] = {
    "Enter": b"\r",
    "Escape": b"\x1b",
    "Tab": b"\t",
    "BTab": b"\x1b[Z",
    "BSpace": b"\x7f",
    "Space": b" ",
    "Up": b"\x1b[A",
    "Down": b"\x1b[B",
    "Right": b"\x1b[C",
    "Left": b"\x1b[D",
    "Home": b"\x1b[H",
    "End": b"\x1b[F",
    "PageUp": b"\x1b[5~",
    "PPage": b"\x1b[5~",
    "PageDown": b"\x1b[6~",
    "NPage": b"\x1b[6~",
    "Delete": b"\x1b[3~",
    "DC": b"\x1b[3~",
    "Insert": b"\x1b[2~",
    "IC": b"\x1b[2~",
    "F1": b"\x1bOP",
    "F2": b"\x1bOQ",
    "F3": b"\x1bOR",
    "F4": b"\x1bOS",
}


def key_bytes(key: str, cursor_keys: bool = False) -> bytes:
    """The bytes a terminal sends for tmux key name ``key`` (unknown names: the text)."""
    if key in KEYS:
        seq = KEYS[key]
        if cursor_keys and key in ("Up", "Down", "Right", "Left"):
            seq = b"\x1bO" + seq[2:]
        return seq
    if (len(key) == 3 and key.startswith("C-")) or (len(key) == 2 and key[0] == "^"):
        char = key[-1]
        if char == "?":
            return b"\x7f"
        if char in " @2":
            return b"\x00"
        return bytes([ord(char.lower() if char.isalpha() else char) & 0x1F])
    if key.startswith("M-") and len(key) > 2:
        return b"\x1b" + key_bytes(key[2:], cursor_keys)
    return key.encode("utf-8")


class Session:
    """One agent process on its PTY, its screen, and what happened to it."""

    def __init__(self, name: str, owner: str, width: int, height: int) -> None:
        self.name = name
        self.owner = owner
        self.pid = 0
        self.fd = -1  # the PTY's master; -1 once it is closed
        self.running = False
        self.exit_status: int | None = None
        self.command = ""
        self.start = ""  # the process's start time in /proc, with its pid: who it was
        self.last_activity = time.time()
        self.screen = pyte.HistoryScreen(width, height, history=HISTORY)
        self.stream = pyte.ByteStream(self.screen)
        self.pending = bytearray()  # input not yet accepted by the PTY
        self.destroy_at: float | None = None  # the grace period's end, once destroy began
        self.watchers: list[socket.socket] = []  # attached clients

    def feed(self, data: bytes) -> None:
        self.stream.feed(data)
        self.last_activity = time.time()

    def mode(self, flag: int) -> bool:
        return flag in self.screen.mode

    def resize(self, width: int, height: int) -> None:
        """Like a terminal: fewer rows push the top into the scrollback only as far as the
        cursor needs (pyte alone would drop the top rows, prompt and all)."""
        screen = self.screen
        if height < screen.lines:
            drop = max(0, screen.cursor.y + 1 - height)
            rows = [screen.buffer[y] for y in range(screen.lines)]
            screen.history.top.extend(rows[:drop])
            screen.buffer.clear()
            for y, row in enumerate(rows[drop : drop + height]):
                screen.buffer[y] = row
            screen.cursor.y -= drop
            screen.lines = height  # rows already arranged: pyte only fits the columns
        screen.resize(height, width)
        screen.set_margins()

    def lines(self) -> list[str]:
        cols = self.screen.columns
        screen = self.screen
        rows = [*screen.history.top, *(screen.buffer[y] for y in range(screen.lines))]
        text = ["".join(row[x].data for x in range(cols)).rstrip() for row in rows]
        while text and not text[-1]:
            text.pop()
        return text

    def capture(self, lines: int) -> str:
        return "\n".join(self.lines()[-max(lines, 1) :])

    def foreground(self) -> str:
        """The foreground process's name, as tmux's ``pane_current_command``."""
        pid = self.pid
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                pid = os.tcgetpgrp(self.fd)
        with contextlib.suppress(OSError):
            return Path(f"/proc/{pid}/comm").read_text().strip()
        return self.command

    def state(self) -> dict[str, t.Any]:
        return {
            "alive": True,
            "running": self.running,
            "exit_status": self.exit_status,
            "pid": self.pid or None,
            "current_command": self.foreground() if self.running else self.command,
            "last_activity": self.last_activity,
        }


def winsize(width: int, height: int) -> bytes:
    return struct.pack("HHHH", height, width, 0, 0)


def start_time(pid: int) -> str:
    """The process's start time (from ``/proc``), to tell it from a later one with its pid."""
    with contextlib.suppress(OSError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat[stat.rindex(")") + 2 :].split()[19]
    return ""


def session_members(sid: int) -> list[int]:
    """Pids of every process in session ``sid`` (the agent's children, even re-grouped)."""
    members = []
    for entry in os.listdir("/proc") if Path("/proc").is_dir() else []:
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                if int(stat[stat.rindex(")") + 2 :].split()[3]) == sid:
                    members.append(int(entry))
    return members


def signal_session(pid: int, sig: int) -> None:
    """Signal the process group ``pid`` leads and every process of its session."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
    for member in session_members(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(member, sig)
