"""ao's performance budgets (design §9), measured on this machine. Run: `make bench`.

Prints one line per measurement with the budget next to it. Everything runs in a
throwaway AO_HOME, git repo and private tmux server; nothing of the user's is touched.
Then, per runtime (bench/runtimes.py): spawn time and `ao list --json` at 30 sessions with
the subprocesses and round trips one listing costs. The last lines (bench/fix.py, no
budget) time `ao fix` taking a red repo to green with
real Claude Code workers, with -j 1 and -j 4, and ao's own share of that time.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECEIVER = ROOT / "tests" / "fixtures" / "receiver.py"
SOCKET = f"ao-bench-{os.getpid()}"


def ao(
    *args: str, env: dict[str, str], cwd: Path, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ao", *args], env=env, cwd=cwd, input=input,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def timed(fn, runs: int) -> list[float]:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def report(name: str, samples: list[float], budget: str, extra: str = "") -> None:
    med = statistics.median(samples) * 1000
    low = min(samples) * 1000
    print(f"{name:<44} median {med:7.1f} ms   min {low:7.1f} ms   budget {budget}{extra}")


def make_repo(path: Path, files: int) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    for i in range(files):
        d = path / f"pkg{i // 100}"
        d.mkdir(exist_ok=True)
        (d / f"mod{i}.py").write_text(f"VALUE = {i}\n")
    subprocess.run(["git", "add", "-A"], cwd=path, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "init"], cwd=path, check=True)


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="ao-bench-"))
    env = {
        **os.environ, "AO_HOME": str(tmp / "home"), "AO_TMUX_SOCKET": SOCKET,
        "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@example.invalid",
        "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "b@example.invalid",
        "SHELL": "/bin/sh",
    }  # fmt: skip
    env.pop("TMUX", None)
    env.pop("AO_CONFIG", None)
    # Measure ao as installed: `pip install` byte-compiles every module. Some sandboxes
    # set PYTHONDONTWRITEBYTECODE, which would make each run recompile ao from source.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    sources = [str(ROOT / "ao"), str(ROOT / "plugins")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *sources], check=True, env=env)
    try:
        run(tmp, env)
    finally:
        subprocess.run(["tmux", "-L", SOCKET, "kill-server"], capture_output=True, check=False)
        from ao_plugins.runtime_tmux import socket_file

        socket_file(SOCKET).unlink(missing_ok=True)  # tmux leaves it behind
        shutil.rmtree(tmp, ignore_errors=True)
    import runtimes  # bench/runtimes.py: spawn and `ao list` per runtime (tmux, process...)

    runtimes.main()
    import github_requests  # bench/github_requests.py: GitHub requests per watch tick

    github_requests.main()
    import fix  # bench/fix.py: `ao fix` red to green with -j 1 and -j 4 (real Claude Code)

    fix.main()


def run(tmp: Path, env: dict[str, str]) -> None:
    print(
        f"ao benchmarks — {os.cpu_count()} CPUs, python {sys.version.split()[0]}, "
        f"load {os.getloadavg()[0]:.2f} (byte-compiled, as after pip install)"
    )
    report("ao --help (wall)", timed(lambda: ao("--help", env=env, cwd=tmp), 15), "≤ 150 ms")

    repo = tmp / "repo"
    make_repo(repo, 2000)
    inbox = tmp / "inbox.jsonl"
    (tmp / "agent-orchestrator.yaml").write_text(json.dumps({
        "defaults": {"agent": "shell"},
        "agents": {"shell": {"command": [sys.executable, str(RECEIVER), str(inbox)]}},
        "projects": {"bench": {"path": str(repo), "sessionPrefix": "b"}},
    }))  # fmt: skip

    # spawn: worktree of a 2,000-file repo + tmux session, no prompt (agent boot excluded)
    spawn = []
    for i in range(5):
        start = time.perf_counter()
        r = ao("new", "", "--name", f"s{i}", env=env, cwd=tmp)
        spawn.append(time.perf_counter() - start)
        assert r.returncode == 0, r.stderr
    report("ao new (2,000-file repo, wall)", spawn, "≤ 1 s")

    # 10 KB send into a ready agent, checked byte-exact
    line = "10KB \"quoted\" 'text'\twith tabs, ünïcödé 🚀 and $(shell) syntax\n"
    message = (line * 200)[:10_240]
    sends = []
    for _ in range(5):
        start = time.perf_counter()
        r = ao("send", "s0", "-", env=env, cwd=tmp, input=message)
        sends.append(time.perf_counter() - start)
        assert r.returncode == 0 and r.stdout.startswith("delivered"), (r.stdout, r.stderr)
        got = json.loads(inbox.read_text().splitlines()[-1])["text"]
        assert got == message, "message not byte-exact"
    report("ao send 10 KB (wall, byte-exact)", sends, "≤ 1 s")
    for i in range(5):
        ao("stop", f"s{i}", "--force", env=env, cwd=tmp)

    # 100 sessions: records + live tmux panes, then list/status
    sys.path.insert(0, str(ROOT))
    os.environ.update(env)
    from ao.session.context import Context
    from ao.store.record import Status

    ctx = Context.load(cwd=tmp)
    project = ctx.project("bench")
    ids = []
    for i in range(100):
        sid = project.store.reserve(
            "b",
            project="bench",
            agent="shell",
            runtime="tmux",
            workspace="worktree",
            status=Status.WORKING,
        )
        name = project.paths.runtime_name(sid)
        # the first runs `cat`: its terminal echoes keys (the dashboard's keystroke bench)
        command = ["cat"] if i == 0 else ["sleep", "3600"]
        pane = subprocess.run(
            ["tmux", "-L", SOCKET, "new-session", "-d", "-s", name, "-P", "-F", "#{pane_id}",
             *command],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        ids.append(sid)
        project.store.update(sid, runtime_name=name, runtime_target=pane, branch=f"ao/{sid}")
    trace = tmp / "trace.txt"
    tenv = {**env, "AO_TRACE_SUBPROCESS": str(trace)}
    samples = timed(lambda: ao("list", "--json", env=tenv, cwd=tmp), 10)
    calls = len(trace.read_text().splitlines()) // 10
    count = len(json.loads(ao("list", "--json", env=env, cwd=tmp).stdout)["data"])
    report(
        f"ao list --json ({count} sessions, wall)",
        samples,
        "≤ 250 ms",
        f"   subprocesses {calls} (≤ 3)",
    )
    trace.unlink()
    samples = timed(lambda: ao("status", "--json", env=tenv, cwd=tmp), 5)
    calls = len(trace.read_text().splitlines()) // 5
    report(
        f"ao status --json ({count} sessions, wall)",
        samples,
        "≤ 250 ms",
        f"   subprocesses {calls}",
    )
    trace.unlink()
    tick_cpu = []
    for _ in range(5):
        r = ao("watch", "--once", "--json", env=tenv, cwd=tmp)
        assert r.returncode == 0, r.stderr
        tick_cpu.append(json.loads(r.stdout)["data"]["cpu_seconds"])
    calls = len(trace.read_text().splitlines()) // 5
    report(
        f"ao watch tick ({count} sessions, CPU)",
        tick_cpu,
        "≤ 300 ms CPU",
        f"   subprocesses {calls} (O(1))",
    )
    import dashboard  # bench/dashboard.py: the dashboard's server over these sessions

    dashboard.run(tmp, env, SOCKET, ids, report)


if __name__ == "__main__":
    main()
