"""`ao fix` timed (run by bench/run.py; alone: `python bench/fix.py [JOBS…]`): the red repo of the
end-to-end test (tests/fixkit.py: 11 items — 8 failing tests, 3 lint files — two pairs of
conflicting fixes, one regression) goes green with real Claude Code workers against the
scripted model, `ao watch --interval 1` running, once with `-j 1` and once with `-j 4`.

Per run, everything is read off one timeline, from just before `ao fix` starts to the run's
`fix.finished` event (what makes `ao fix status --json` say finished):

- wall: that span;
- checks: ao running checks — the plan (`ao fix`'s `checkSeconds`, just before its first
  spawn), every gate (`task.verifying` → the task's next event) and every merge-queue
  attempt (`fix.merging` → the item's next state: its rebase, the full run of every check,
  the fast-forward);
- agent turns: from a turn's first request to the scripted model to its last (the model
  answers at once, so this is the CLI's own time: its requests and its tool runs);
- ao's orchestration overhead = wall − the time during which a check ran or an agent was
  in a turn, split into spawning (`session.spawning` → `session.started`: worktree, tmux,
  the agent CLI's boot, dialogs, prompt delivery) and the rest (waiting for the watcher's
  next tick, noticing a turn's end, send-backs, commits, bookkeeping).

With `-j 4` the intervals overlap: each instant counts once, in the first category that
covers it (checks, agent turns, spawning, rest), so the parts add up to the wall time.
Everything runs in a throwaway HOME/AO_HOME/repo and a private tmux server, removed at the
end. Without Claude Code (`scripts/install-agents.sh`) or tmux, one line says it was skipped.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# where scripts/install-agents.sh puts the agent CLIs (as tests/agents/conftest.py reads it)
AGENT_BIN = Path(os.environ.get("AO_AGENTS_PREFIX") or ROOT / ".agents" / "npm") / "bin"
API_KEY = "sk-ant-fake-00000000000000000000"
TIMEOUT = 200.0  # seconds for one run to finish
JOBS = (1, 4)
NAME = 44  # the name column of bench/run.py's lines

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ao.selftest.model import FakeModel  # noqa: E402
from ao.selftest.server import Request  # noqa: E402
from tests import fixkit  # noqa: E402

Interval = tuple[float, float]


class TimedModel(FakeModel):
    """The scripted model, remembering when each conversation request arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[tuple[float, str | None, int]] = []  # (time, route, position)
        self._times = threading.Lock()

    def record(self, req: Request) -> None:
        super().record(req)
        if req.main:
            with self._times:
                self.arrivals.append((time.time(), req.route, req.position))


class Run(t.NamedTuple):
    jobs: int
    wall: float
    parts: dict[str, float]  # category -> seconds (they add up to wall)
    items: list[dict[str, t.Any]]
    green: bool
    summary: str


def main(jobs: t.Sequence[int] = JOBS) -> None:
    """Time the fix run with each ``jobs`` and print a line each, the speed-up of the second
    over the first, and the orchestration overhead of each."""
    claude = shutil.which("claude", path=f"{AGENT_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    missing = "tmux" if not shutil.which("tmux") else None
    if claude is None or missing:
        why = (
            f"{missing} is not installed"
            if missing
            else "Claude Code is not installed (scripts/install-agents.sh puts it in .agents/npm)"
        )
        print(f"{'ao fix red → green':<{NAME}} skipped: {why}")
        return
    runs = []
    for j in jobs:
        result = run(j)
        if result is None:
            return
        runs.append(result)
        print(line(result), flush=True)
    if len(runs) == 2:
        one, four = runs
        print(f"{f'ao fix speed-up, -j {four.jobs} over -j {one.jobs}':<{NAME}} "
              f"×{one.wall / four.wall:.2f}   ({one.wall:.1f} s → {four.wall:.1f} s, "
              "wall to fix.finished)")  # fmt: skip
    for r in runs:
        overhead = r.parts["spawning"] + r.parts["rest"]
        print(f"{f'ao fix -j {r.jobs} orchestration overhead':<{NAME}} {overhead:7.1f} s   "
              f"{overhead / r.wall:4.0%} of wall: spawning {r.parts['spawning']:.1f} s, "
              f"the rest {r.parts['rest']:.1f} s")  # fmt: skip
    if runs:
        print(f"{'':<{NAME}} (overhead = wall − the time a check ran or an agent turned; "
              "spawning includes Claude Code's boot; the rest: ticks, turn-end detection, "
              "send-backs, git)")  # fmt: skip


def line(r: Run) -> str:
    states: dict[str, int] = {}
    for item in r.items:
        states[item["state"]] = states.get(item["state"], 0) + 1
    ended = ", ".join(f"{n} {s}" for s, n in states.items())
    sent = sum(item["attempts"] for item in r.items)
    verdict = "green" if r.green else f"NOT GREEN ({r.summary})"
    p = r.parts
    return (
        f"{f'ao fix {len(r.items)} items -j {r.jobs} (wall)':<{NAME}} {r.wall:7.1f} s   "
        f"checks {p['checks']:.1f} s + agent turns {p['agents']:.1f} s + ao "
        f"{p['spawning'] + p['rest']:.1f} s   ({ended}, {sent} send-backs, base {verdict})"
    )


def run(jobs: int) -> Run | None:
    """One fix run of a fresh red repo with ``-j jobs``; None (after saying why) if it
    did not finish."""
    tmp = Path(tempfile.mkdtemp(prefix="ao-bench-fix-")).resolve()
    socket = f"ao-bench-fix-{os.getpid()}-{jobs}"
    model = TimedModel().start()
    watcher: subprocess.Popen[str] | None = None
    try:
        env = environment(tmp, socket, model.url)
        repo = tmp / "repo"
        with _env(env):  # fixkit's git commits as the bench's author
            fixkit.make_red_repo(fixkit.init_repo(repo))
        fixkit.configure(repo)
        fixkit.script(model)
        watch_log = (tmp / "watch.log").open("w")
        watcher = subprocess.Popen(
            [sys.executable, "-m", "ao", "watch", "--interval", "1"], cwd=tmp, env=env,
            stdin=subprocess.DEVNULL, stdout=watch_log, stderr=subprocess.STDOUT,
            text=True, start_new_session=True,
        )  # fmt: skip
        watch_log.close()
        began = time.time()
        started = ao(env, tmp, "fix", "-j", str(jobs))
        if started is None:
            return None
        log = next(Path(env["AO_HOME"]).glob("*/events.jsonl"))
        deadline = time.monotonic() + TIMEOUT
        while '"fix.finished"' not in log.read_text():  # cheap: no ao process per poll
            if time.monotonic() > deadline or watcher.poll() is not None:
                why = "the watcher exited" if watcher.poll() is not None else "timed out"
                print(f"{f'ao fix -j {jobs}':<{NAME}} FAILED: not finished ({why} after "
                      f"{time.time() - began:.0f}s)")  # fmt: skip
                print(status_table(env, tmp))
                print((tmp / "watch.log").read_text()[-2000:])
                return None
            time.sleep(0.2)
        status = ao(env, tmp, "fix", "status")
        if status is None or not status["finished"]:
            print(f"{f'ao fix -j {jobs}':<{NAME}} FAILED: fix.finished, but status says {status}")
            return None
        events = [json.loads(x) for x in log.read_text().splitlines() if x.strip()]
        end = next(epoch(e["ts"]) for e in events if e["type"] == "fix.finished")
        parts = breakdown(began, end, started["checkSeconds"], events, model)
        with _env(env):
            ok, summary = fixkit.green(repo, tmp / "check")
        if not ok or any(item["state"] != "merged" for item in status["items"]):
            print(status_table(env, tmp))
            for e in events:
                if e["type"] in ("fix.fixing", "fix.needs_you", "fix.rejected", "fix.merged"):
                    print(e["ts"][11:], e["type"], e["session"], e["message"][:200])
        return Run(jobs, end - began, parts, status["items"], ok, summary)
    finally:
        if watcher is not None and watcher.poll() is None:
            os.killpg(watcher.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                watcher.communicate(timeout=10)
        model.close()
        cleanup(socket, tmp)


def environment(tmp: Path, socket: str, url: str) -> dict[str, str]:
    """A throwaway HOME (Claude Code onboarded) and AO_HOME, the private tmux server, the
    agent prefix first on PATH, and Claude Code pointed at the scripted model, as the
    `claude` fixture of tests/agents/conftest.py does."""
    home = tmp / "home"
    home.mkdir()
    (home / ".claude.json").write_text(json.dumps({"hasCompletedOnboarding": True,
                                                   "projects": {}}))  # fmt: skip
    drop = ("ANTHROPIC_", "CLAUDE_", "OPENAI_", "CODEX_", "AO_", "TMUX")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    # ao as installed (byte-compiled); the red repo's .gitignore keeps the bytecode the
    # gates' pytest runs write out of the fixes
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update({
        "HOME": str(home), "AO_HOME": str(home / ".agent-orchestrator"),
        "AO_TMUX_SOCKET": socket, "SHELL": "/bin/sh", "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@example.invalid",
        "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "b@example.invalid",
        "PATH": f"{AGENT_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANTHROPIC_BASE_URL": url, "ANTHROPIC_API_KEY": API_KEY,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1",
    })  # fmt: skip
    return env


@contextlib.contextmanager
def _env(env: dict[str, str]) -> t.Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def ao(env: dict[str, str], cwd: Path, *args: str) -> dict[str, t.Any] | None:
    r = subprocess.run([sys.executable, "-m", "ao", *args, "--json"], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    if r.returncode != 0:
        print(f"{'ao ' + ' '.join(args):<{NAME}} FAILED (exit {r.returncode}): "
              f"{(r.stderr or r.stdout).strip()[-500:]}")  # fmt: skip
        return None
    return t.cast(dict[str, t.Any], json.loads(r.stdout)["data"])


def status_table(env: dict[str, str], cwd: Path) -> str:
    """`ao fix status` as a user sees it (when a run went wrong)."""
    r = subprocess.run([sys.executable, "-m", "ao", "fix", "status"], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    return r.stdout + r.stderr


def epoch(ts: str) -> float:
    return dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def breakdown(
    began: float, end: float, plan: float, events: list[dict[str, t.Any]], model: TimedModel
) -> dict[str, float]:
    """Seconds of [began, end] in each category (see the module's docstring)."""
    checks: list[Interval] = []
    spawns: list[Interval] = []
    first_spawn = next((epoch(e["ts"]) for e in events if e["type"] == "session.spawning"), end)
    checks.append((first_spawn - plan, first_spawn))
    open_: dict[tuple[str, str], float] = {}  # (kind, task or item) -> since
    for e in events:
        when, kind, data = epoch(e["ts"]), e["type"], e.get("data") or {}
        if kind.startswith("task.") and data.get("task"):
            since = open_.pop(("gate", data["task"]), None)
            if since is not None:
                checks.append((since, when))
            if kind == "task.verifying":
                open_[("gate", data["task"])] = when
        elif kind.startswith("fix.") and data.get("item"):
            since = open_.pop(("merge", data["item"]), None)
            if since is not None:
                checks.append((since, when))
            if kind == "fix.merging":
                open_[("merge", data["item"])] = when
        elif kind == "session.spawning" and e["session"]:
            open_[("spawn", e["session"])] = when
        elif kind in ("session.started", "session.errored") and e["session"]:
            since = open_.pop(("spawn", e["session"]), None)
            if since is not None:
                spawns.append((since, when))
    parts = {"checks": checks, "agents": turns(model), "spawning": spawns}
    return classify(began, end, parts)


def turns(model: TimedModel) -> list[Interval]:
    """Each agent turn, as the scripted model saw it: its first request to its last.

    A route's script is known, so its turns are known: each ends with a text step."""
    scripts = fixkit.routes()
    spans: dict[tuple[str, int], list[float]] = {}
    for when, route, position in model.arrivals:
        steps = scripts.get(route or "")
        if steps is None:
            continue
        turn = sum(1 for step in steps[:position] if step.kind == "text")
        span = spans.setdefault((route or "", turn), [when, when])
        span[0], span[1] = min(span[0], when), max(span[1], when)
    return [(a, b) for a, b in spans.values()]


def classify(began: float, end: float, parts: dict[str, list[Interval]]) -> dict[str, float]:
    """Split [began, end] by the first category (in ``parts``' order) covering each instant;
    what none covers is ``rest``."""
    cuts = sorted({began, end, *(x for ivs in parts.values() for iv in ivs for x in iv)})
    cuts = [c for c in cuts if began <= c <= end]
    seconds = dict.fromkeys([*parts, "rest"], 0.0)
    for a, b in itertools.pairwise(cuts):
        mid = (a + b) / 2
        name = next((n for n, ivs in parts.items() if any(s <= mid < e for s, e in ivs)), "rest")
        seconds[name] += b - a
    return seconds


def cleanup(socket: str, tmp: Path) -> None:
    """Kill every pane's process group and the private tmux server; remove the temp dir."""
    tmux = ["tmux", "-L", socket]
    r = subprocess.run([*tmux, "list-panes", "-a", "-F", "#{pane_pid}"],
                       capture_output=True, text=True, check=False)  # fmt: skip
    for pid in r.stdout.split():
        with contextlib.suppress(OSError, ValueError):
            os.killpg(int(pid), signal.SIGKILL)
    subprocess.run([*tmux, "kill-server"], capture_output=True, check=False)
    from ao_plugins.runtime_tmux import socket_file

    socket_file(socket).unlink(missing_ok=True)  # tmux leaves it behind
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or JOBS)
