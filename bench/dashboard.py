"""The dashboard's budgets, measured against a real `ao dashboard` (run by bench/run.py over
its 100 sessions, whose first pane runs `cat`, the others `sleep`):

- `GET /api/sessions` at 100 sessions: median and 95th percentile of back-to-back reads
  (the shared snapshot is at most 1 s old; a read that finds it stale refreshes it);
- a status change to its SSE `sessions` event: an agent process killed just after a
  snapshot (the worst case: a whole poll interval to wait), until a stream shows the
  session `exited`;
- runtime calls per second with 1 and with 20 event streams open (the shared poller:
  they must be equal), counted with `AO_TRACE_SUBPROCESS`;
- keystroke to echo through the terminal websocket: a key typed into `cat`'s pane (its
  terminal echoes it), until the byte comes back from the shared view.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import typing as t
from pathlib import Path

import httpx
from websockets.sync.client import connect

Report = t.Callable[..., None]
WINDOW = 10.0  # seconds over which runtime calls are counted


class Server:
    """`ao dashboard --port 0` in ``cwd``, its URL and token."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ao", "dashboard", "--port", "0"], cwd=cwd, env=env,
            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline().strip()
        if not first:
            raise SystemExit(f"bench: ao dashboard did not start: {self.proc.communicate()[1]}")
        self.url, _, self.token = first.partition("/?token=")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.communicate(timeout=30)


def run(tmp: Path, env: dict[str, str], socket: str, sessions: list[str], report: Report) -> None:
    """Start the dashboard over the bench's config and print its four measurements."""
    trace = tmp / "dashboard-trace.txt"
    server = Server(tmp, {**env, "AO_TRACE_SUBPROCESS": str(trace)})
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            reads = list_reads(client, 100)
            count = len(client.get("/api/sessions").json())
        spread = f"   p95 {percentile(reads, 95) * 1000:.1f} ms   max {max(reads) * 1000:.1f} ms"
        report(f"GET /api/sessions ({count} sessions)", reads, "≤ 50 ms", spread)

        one, twenty = (runtime_calls(server.url, trace, viewers) for viewers in (1, 20))
        same = "equal" if abs(one - twenty) <= 2 / WINDOW else "NOT EQUAL"
        print(f"{'runtime calls/s with 1 and 20 SSE clients':<44} {one:7.1f} /s   "
              f"{twenty:7.1f} /s   budget equal ({same})")  # fmt: skip

        latencies = asyncio.run(status_to_event(server.url, socket, tmp, sessions[-5:]))
        report("status change → SSE event", latencies, "≤ 1.5 s")

        echoes = keystroke_echo(server, sessions[0])
        report("keystroke → echo (terminal websocket)", echoes, "≤ 100 ms")
    finally:
        server.stop()


def list_reads(client: httpx.Client, n: int) -> list[float]:
    client.get("/api/sessions")  # the first snapshot
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        r = client.get("/api/sessions")
        samples.append(time.perf_counter() - start)
        assert r.status_code == 200, r.text
        time.sleep(0.02)  # a page refreshing on its own, not a tight loop
    return samples


def percentile(samples: list[float], pct: int) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def runtime_calls(url: str, trace: Path, viewers: int) -> float:
    """Runtime (tmux) calls per second the server makes while ``viewers`` streams are open."""
    stop = threading.Event()
    opened = threading.Semaphore(0)

    def viewer() -> None:
        with (
            httpx.Client(base_url=url, timeout=30) as c,
            c.stream("GET", "/api/events/stream") as r,
        ):
            opened.release()
            for _ in r.iter_lines():
                if stop.is_set():
                    return

    threads = [threading.Thread(target=viewer, daemon=True) for _ in range(viewers)]
    for th in threads:
        th.start()
    for _ in threads:
        opened.acquire(timeout=30)
    time.sleep(2.0)  # the poller runs
    before = tmux_lines(trace)
    time.sleep(WINDOW)
    calls = tmux_lines(trace) - before
    stop.set()
    for th in threads:
        th.join(5)
    time.sleep(2.0)  # the last stream closed: the poller stops
    return calls / WINDOW


def tmux_lines(trace: Path) -> int:
    if not trace.exists():
        return 0
    return sum(1 for line in trace.read_text().splitlines() if line.startswith("tmux"))


async def status_to_event(url: str, socket: str, tmp: Path, sessions: list[str]) -> list[float]:
    """For each session: kill its agent's process, time until a stream says `exited`."""
    latencies = []
    async with (
        httpx.AsyncClient(base_url=url, timeout=30) as client,
        client.stream("GET", "/api/events/stream") as stream,
    ):
        lines = stream.aiter_lines()
        await rows_of(lines)  # the first snapshot
        for sid in sessions:
            name = session_name(tmp, sid)
            pid = subprocess.run(
                ["tmux", "-L", socket, "display-message", "-p", "-t", f"={name}:", "#{pane_pid}"],
                capture_output=True, text=True, check=True,
            ).stdout.strip()  # fmt: skip
            killed = time.perf_counter()
            os.kill(int(pid), signal.SIGKILL)
            while True:
                rows = await asyncio.wait_for(rows_of(lines), 10)
                row = next((r for r in rows if r["id"] == sid), None)
                if row is None or row["activity"] == "exited":
                    latencies.append(time.perf_counter() - killed)
                    break
    return latencies


async def rows_of(lines: t.AsyncIterator[str]) -> list[dict[str, t.Any]]:
    """The data of the next `sessions` message."""
    event = None
    async for line in lines:
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: ") and event == "sessions":
            return t.cast(list[dict[str, t.Any]], json.loads(line[6:]))
    raise RuntimeError("the event stream ended")


def session_name(tmp: Path, sid: str) -> str:
    from ao.session.context import Context

    return Context.load(cwd=tmp).project("bench").paths.runtime_name(sid)


def keystroke_echo(server: Server, sid: str, keys: int = 40) -> list[float]:
    """Keys typed through the terminal websocket into `cat`'s pane, each until its echo."""
    url = server.url.replace("http://", "ws://") + f"/api/sessions/{sid}/terminal?cols=100&rows=30"
    headers = {"Authorization": f"Bearer {server.token}"}
    samples = []
    with connect(url, additional_headers=headers, open_timeout=30) as ws:
        ws.send(json.dumps({"type": "unlock"}))
        drain(ws, 1.0)  # the replayed screen, the unlock's answer
        for i in range(keys):
            key = "{}"[i % 2]  # in no status line, title or escape sequence
            start = time.perf_counter()
            ws.send(json.dumps({"type": "input", "data": key}))
            while True:
                frame = ws.recv(timeout=5)
                if isinstance(frame, bytes) and key.encode() in frame:
                    samples.append(time.perf_counter() - start)
                    break
            drain(ws, 0.05)
        ws.send(json.dumps({"type": "input", "data": "\r"}))
    return samples


def drain(ws: t.Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            ws.recv(timeout=left)
        except TimeoutError:
            return
