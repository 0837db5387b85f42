"""Shared pieces of the dashboard tests: the real server (`ao dashboard` as a subprocess on
127.0.0.1, a free port), a reader of server-sent events and a terminal websocket client."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import typing as t
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from tests.sessionkit import Project


@dataclasses.dataclass
class Board:
    """A running `ao dashboard`: its URL, token and process."""

    url: str
    token: str
    proc: subprocess.Popen[str]

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def client(self, *, token: str | None = "", **kw: t.Any) -> httpx.Client:
        """A client of the server; with the token unless ``token`` is None (or another)."""
        headers = dict(kw.pop("headers", {}))
        given = self.token if token == "" else token
        if given is not None:
            headers["Authorization"] = f"Bearer {given}"
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kw)

    def stop(self) -> str:
        """Stop the server (SIGTERM, as Ctrl-C would) and return what it wrote on stderr."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        _, err = self.proc.communicate(timeout=30)
        return err


def start_board(proj: Project, *args: str) -> Board:
    """`ao dashboard --port 0 ARGS` in the project's directory, once it listens."""
    return _started(proj.popen("dashboard", "--port", "0", *args))


def start_board_in(cwd: Path) -> Board:
    """`ao dashboard --port 0` in ``cwd`` (with this process's environment)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ao", "dashboard", "--port", "0"], cwd=cwd, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    return _started(proc)


def _started(proc: subprocess.Popen[str]) -> Board:
    assert proc.stdout is not None
    first = proc.stdout.readline().strip()
    if not first:
        _, err = proc.communicate(timeout=30)
        raise AssertionError(f"ao dashboard did not start: {err}")
    url, _, token = first.partition("/?token=")
    return Board(url, token, proc)


@pytest.fixture
def board(proj: Project) -> Iterator[Board]:
    server = start_board(proj)
    try:
        yield server
    finally:
        server.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def messages(response: httpx.Response) -> Iterator[dict[str, t.Any]]:
    """The server-sent events of a streaming response, as ``{event, id, data}``; comments
    (pings) are skipped."""
    message: dict[str, t.Any] = {}
    for line in response.iter_lines():
        if not line:
            if message:
                yield message
            message = {}
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        message[field] = json.loads(value) if field == "data" else value


def until(stream: Iterator[dict[str, t.Any]], event: str) -> dict[str, t.Any]:
    """The next message of type ``event`` (the others are skipped)."""
    for message in stream:
        if message.get("event") == event:
            return message
    raise AssertionError(f"the stream ended before an {event!r} message")


def token_file(home: Path) -> Path:
    return home / ".agent-orchestrator" / "dashboard.token"


ANSI = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\|[()][0-9A-Za-z]|[=>78DEHMNOc])"
)


class Term:
    """A terminal websocket of the dashboard (``/api/sessions/ID/terminal``): what it
    printed (escape sequences removed) and the control messages it got."""

    def __init__(self, board: Board, session: str, *, token: str | None = "", **params: object):
        headers = {}
        given = board.token if token == "" else token
        if given is not None:
            headers["Authorization"] = f"Bearer {given}"
        query = "&".join(f"{k}={v}" for k, v in params.items())
        url = f"ws://127.0.0.1:{board.port}/api/sessions/{session}/terminal?{query}"
        # entered at once: the test closes it (websockets warns about a bare connect())
        self.ws = ws_connect(url, additional_headers=headers, open_timeout=20).__enter__()
        self.raw = b""
        self.controls: list[dict[str, t.Any]] = []
        self.closed = False

    @property
    def text(self) -> str:
        return ANSI.sub("", self.raw.decode("utf-8", "replace"))

    def pump(self, timeout: float) -> None:
        """Take in what arrives within ``timeout`` seconds."""
        if self.closed:
            return
        try:
            frame = self.ws.recv(timeout=timeout)
        except TimeoutError:
            return
        except ConnectionClosed:
            self.closed = True
            return
        if isinstance(frame, bytes):
            self.raw += frame
        else:
            self.controls.append(json.loads(frame))

    def wait(self, predicate: t.Callable[[Term], object], timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() > deadline or self.closed:
                raise AssertionError(
                    f"terminal: timed out (closed={self.closed}); controls {self.controls[-5:]};"
                    f" text tail {self.text[-400:]!r}"
                )
            self.pump(0.1)

    def see(self, marker: str, timeout: float = 15.0) -> None:
        self.wait(lambda term: marker in term.text, timeout)

    def send(self, **message: object) -> None:
        self.ws.send(json.dumps(message))

    def type(self, text: str) -> None:
        self.send(type="input", data=text)

    def close(self) -> None:
        self.ws.close()
