"""Fake notification endpoints for tests: a D-Bus notification daemon and an HTTP receiver.

``main`` is a fake ``org.freedesktop.Notifications`` daemon on the D-Bus session bus
(jeepney). Run it inside a private bus:
``dbus-run-session -- python tests/fake_notifyd.py LOG READY``. Each ``Notify`` call is
appended to LOG as one JSON line (app, summary, body, urgency, expire_timeout, hints).
Once it owns the bus name it writes the bus address to READY, so a test can point
``DBUS_SESSION_BUS_ADDRESS`` at it and run the real ``notify-send``. It exits when the
bus goes away.

``Receiver`` is a real HTTP server on 127.0.0.1 (stdlib, in threads) that records every
request and answers from a script: status codes, headers, or a hang.
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import os
import sys
import threading
import time
import typing as t
from pathlib import Path

NAME = "org.freedesktop.Notifications"


def _plain(value: t.Any) -> t.Any:
    # a variant arrives as (signature, value)
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
        return _plain(value[1])
    if isinstance(value, bytes):
        return value.hex()
    return value


def main(log: Path, ready: Path) -> None:
    """Serve the Notifications interface until the bus closes."""
    # jeepney ships no type information
    from jeepney import (  # type: ignore[import-untyped]
        HeaderFields,
        MessageType,
        new_error,
        new_method_return,
    )
    from jeepney.bus_messages import message_bus  # type: ignore[import-untyped]
    from jeepney.io.blocking import open_dbus_connection  # type: ignore[import-untyped]

    conn = open_dbus_connection(bus="SESSION")
    reply = conn.send_and_get_reply(message_bus.RequestName(NAME))
    if reply.body != (1,):  # 1: primary owner
        sys.exit(f"could not own {NAME}: {reply.body}")
    tmp = ready.with_suffix(".tmp")
    tmp.write_text(os.environ["DBUS_SESSION_BUS_ADDRESS"])
    tmp.replace(ready)
    nid = 0
    while True:
        try:
            msg = conn.receive()
        except (ConnectionError, OSError):
            return
        header = msg.header
        if header.message_type != MessageType.method_call:
            continue
        member = header.fields.get(HeaderFields.member)
        if member == "Notify":
            nid += 1
            app, _replaces, _icon, summary, body, actions, hints, expire = msg.body
            record = {
                "app": app,
                "summary": summary,
                "body": body,
                "urgency": int(_plain(hints.get("urgency", ("y", 1)))),
                "expire_timeout": expire,
                "actions": list(actions),
                "hints": {k: _plain(v) for k, v in hints.items()},
            }
            with log.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")
            conn.send(new_method_return(msg, "u", (nid,)))
        elif member == "GetServerInformation":
            conn.send(new_method_return(msg, "ssss", ("fake_notifyd", "ao-tests", "1", "1.2")))
        elif member == "GetCapabilities":
            conn.send(new_method_return(msg, "as", (["body"],)))
        elif member == "CloseNotification":
            conn.send(new_method_return(msg))
        else:
            conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod"))


# ----------------------------------------------------------------------------- HTTP


@dataclasses.dataclass(frozen=True)
class Answer:
    """One scripted response; ``hang`` holds the request open until the receiver stops."""

    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    hang: bool = False


@dataclasses.dataclass(frozen=True)
class Request:
    """One request as the receiver saw it (header names lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> t.Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


class Receiver:
    """An HTTP server on 127.0.0.1 that records requests and answers from a script.

    ``answers`` are used in order, one per request; after them every request gets
    ``default``. Use as a context manager or call ``start``/``stop``.
    """

    def __init__(self, *answers: Answer, default: Answer | None = None) -> None:
        self.answers = list(answers)
        self.default = default or Answer()
        self.requests: list[Request] = []
        self.release = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.requests.append(
                        Request(
                            self.command,
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                            time.monotonic(),
                        )
                    )
                    answer = receiver.answers.pop(0) if receiver.answers else receiver.default
                if answer.hang:
                    receiver.release.wait(60)
                    return
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, format: str, *args: t.Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> Receiver:
        """Serve in a background thread."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Let hung requests go, stop serving and close the socket."""
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
