"""Relay a ``process`` runtime session's PTY to this terminal; Ctrl-] detaches.

``python -m ao_plugins.runtime_process.attach SOCKET NAME``: the supervisor sends the
session's current screen, then its output as it comes; every key typed here goes to the
agent (raw mode) except Ctrl-], which detaches and leaves the agent running. The
session's PTY takes this terminal's size (again on every resize).
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import socket
import sys
import termios
import tty
import typing as t
from pathlib import Path

from ao_plugins.runtime_process import PROTOCOL, ProcessRuntime, connect

DETACH = b"\x1d"  # Ctrl-]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m ao_plugins.runtime_process.attach SOCKET NAME", file=sys.stderr)
        return 2
    path, name = Path(argv[0]), argv[1]
    conn = connect(path)
    if conn is None:
        print(f"ao: no process supervisor runs on {path}", file=sys.stderr)
        return 1
    stdin = sys.stdin.fileno()
    saved = termios.tcgetattr(stdin) if os.isatty(stdin) else None
    try:
        if saved is not None:  # before anything is shown: keys typed from then on are kept
            tty.setraw(stdin)
        return relay(conn, path, name)
    finally:
        if saved is not None:
            termios.tcsetattr(stdin, termios.TCSADRAIN, saved)
        conn.close()


def relay(conn: socket.socket, path: Path, name: str) -> int:
    """Show the session's screen, then copy both ways until detach or the end."""
    stdin = sys.stdin.fileno()
    size = shutil.get_terminal_size()
    request = {"v": PROTOCOL, "op": "attach", "name": name,
               "width": size.columns, "height": size.lines}  # fmt: skip
    conn.sendall(json.dumps(request).encode() + b"\n")
    conn.settimeout(None)
    buf = b""
    while b"\n" not in buf:
        chunk = conn.recv(65536)
        if not chunk:
            print(f"ao: session {name!r} is gone\r", file=sys.stderr)
            return 1
        buf += chunk
    line, _, rest = buf.partition(b"\n")
    head = json.loads(line)
    if not head.get("ok"):
        print(f"ao: {head.get('error')}\r", file=sys.stderr)
        return 1
    out = sys.stdout.buffer
    out.write(rest)
    out.flush()

    def resize(*_: t.Any) -> None:
        cols, rows = shutil.get_terminal_size()
        with contextlib.suppress(Exception):
            ProcessRuntime({"socket": str(path)}).call(
                "resize", start=False, name=name, width=cols, height=rows
            )

    signal.signal(signal.SIGWINCH, resize)
    sel = selectors.DefaultSelector()
    sel.register(conn, selectors.EVENT_READ)
    sel.register(stdin, selectors.EVENT_READ)
    try:
        while True:
            for key, _ in sel.select():
                if key.fileobj is conn:
                    data = conn.recv(65536)
                    if not data:
                        return 0
                    out.write(data)
                    out.flush()
                    continue
                typed = os.read(stdin, 65536)
                if not typed:
                    return 0
                if DETACH in typed:
                    typed = typed[: typed.index(DETACH)]
                    if typed:
                        conn.sendall(typed)
                    return 0
                conn.sendall(typed)
    finally:
        out.write(b"\r\n")
        out.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
