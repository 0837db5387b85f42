"""Per runtime: spawn time, `ao list --json` at 30 sessions, and what a listing costs.

For each runtime that runs here (tmux, process, docker with a real engine, ssh against
three real OpenSSH servers on loopback): 30 sessions started with `ao new` (the agent is
`sh`; the time is ao's, from the command to a ready agent), then `ao list --json` timed
over 5 runs, with the subprocesses one listing starts counted (`AO_TRACE_SUBPROCESS`):
for ssh, the round trips per host. ``ssh-copy`` is ssh with a ``workdir`` per host (each
session on its own copy there), and adds how long bringing a copy's work back takes.
Run: `.venv/bin/python bench/runtimes.py [RUNTIME...]` (part of `make bench`). A runtime
that cannot run here is reported as skipped, with why.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import typing as t
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SESSIONS = 30


def ao(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ao", *args], env=env, cwd=cwd, capture_output=True,
        text=True, timeout=180, check=False,
    )  # fmt: skip


def plugins_for(runtime: str, tmp: Path, hosts: list[t.Any]) -> dict[str, t.Any] | str:
    """The runtime's `plugins` options, or why it cannot run here."""
    if runtime == "docker":
        from tests import dockerkit

        if error := dockerkit.engine_error():
            return f"no Docker engine: {error}"
        return {"docker": {"image": dockerkit.build_image(), "network": "none",
                           "mounts": dockerkit.host_mounts(tmp)}}  # fmt: skip
    if runtime.startswith("ssh"):
        from tests import sshkit

        if not Path(sshkit.SSHD).exists():
            return "no sshd (apt-get install openssh-server)"
        hosts += sshkit.start_hosts(tmp / "hosts", 3)
        options: dict[str, t.Any] = {"maxSessions": SESSIONS}
        config = {f"h{i + 1}": {**h.options(), **options} for i, h in enumerate(hosts)}
        if runtime == "ssh-copy":  # hosts sharing nothing: each session on its own copy
            for host, entry in config.items():
                entry["workdir"] = str(tmp / "far" / host)
        return {"ssh": {"hosts": config}}
    return {}


def bench(runtime: str, base_env: dict[str, str]) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=f"ao-bench-{runtime}-"))
    socket = f"ao-bench-rt-{os.getpid()}"
    env = {**base_env, "AO_HOME": str(tmp / "home"), "AO_TMUX_SOCKET": socket}
    hosts: list[t.Any] = []
    os.environ.update(env)  # for the runtime plugin this process loads to clean up
    try:
        plugins = plugins_for(runtime, tmp, hosts)
        if isinstance(plugins, str):
            print(f"{runtime:<8} skipped: {plugins}")
            return
        repo = tmp / "repo"
        subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
        (repo / "README.md").write_text("bench\n")
        subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
        subprocess.run(["git", "commit", "-q", "-m", "init"], cwd=repo, check=True, env=env)
        (tmp / "agent-orchestrator.yaml").write_text(json.dumps({
            "defaults": {"agent": "shell", "runtime": runtime.partition("-")[0]},
            "agents": {"shell": {"command": ["sh"]}},
            "projects": {"bench": {"path": str(repo), "sessionPrefix": "b"}},
            "plugins": plugins,
        }))  # fmt: skip
        spawns = []
        for i in range(SESSIONS):
            start = time.perf_counter()
            r = ao("new", "", "--name", f"s{i}", env=env, cwd=tmp)
            spawns.append(time.perf_counter() - start)
            assert r.returncode == 0, r.stderr
        trace = tmp / "trace.txt"
        trace.touch()
        before = supervisor_requests() if runtime == "process" else 0
        lists = []
        for _ in range(5):
            start = time.perf_counter()
            r = ao("list", "--json", env={**env, "AO_TRACE_SUBPROCESS": str(trace)}, cwd=tmp)
            lists.append(time.perf_counter() - start)
            assert r.returncode == 0 and len(json.loads(r.stdout)["data"]) == SESSIONS, r.stderr
        calls = [shlex.split(line) for line in trace.read_text().splitlines()]
        programs = Counter(argv[0] for argv in calls)
        per_listing = {name: count // 5 for name, count in sorted(programs.items())}
        ssh_hosts = Counter(next(a for a in argv if "@" in a) + ":" + argv[argv.index("-p") + 1]
                            for argv in calls if argv[0] == "ssh")  # fmt: skip
        line = (
            f"{runtime:<8} spawn median {statistics.median(spawns) * 1000:6.0f} ms   "
            f"ao list --json ({SESSIONS} sessions) median "
            f"{statistics.median(lists) * 1000:6.0f} ms   subprocesses per listing "
            f"{sum(per_listing.values())} {per_listing}"
        )
        if ssh_hosts:
            line += f"   round trips per host {sorted(c // 5 for c in ssh_hosts.values())}"
        if runtime == "process":
            line += f"   supervisor requests per listing {(supervisor_requests() - before) // 5}"
        print(line)
        if runtime == "ssh-copy":
            print(bring_backs(tmp))
    finally:
        cleanup(runtime, tmp, socket, hosts)


def bring_backs(tmp: Path) -> str:
    """Median time to bring a copy's work back: unchanged since the last time, then with
    a file changed on the host (what ao pays before it verifies, publishes or stops)."""
    from ao import registry

    plugins = json.loads((tmp / "agent-orchestrator.yaml").read_text())["plugins"]
    rt = t.cast(t.Any, registry.load("runtime", "ssh", plugins["ssh"]))
    handles = [rt.handle(name) for name in sorted(rt.list_names())[:5]]
    times: dict[str, list[float]] = {"unchanged": [], "changed": []}
    for kind in ("unchanged", "unchanged", "changed"):
        for handle in handles:
            if kind == "changed":
                (tmp / "far" / handle.target.split("/")[0] / handle.name / "n.txt").write_text("x")
            start = time.perf_counter()
            rt.sync_copy(handle)
            times[kind].append(time.perf_counter() - start)
    return "           bring back median " + "   ".join(
        f"{kind} {statistics.median(values) * 1000:.0f} ms" for kind, values in times.items()
    )


def supervisor_requests() -> int:
    """Requests the process runtime's supervisor has served so far."""
    from ao_plugins.runtime_process import ProcessRuntime

    stats = t.cast(dict[str, t.Any], ProcessRuntime().call("stats", start=False))
    return sum(stats["requests"].values())


def cleanup(runtime: str, tmp: Path, socket: str, hosts: list[t.Any]) -> None:
    from ao import registry

    config = tmp / "agent-orchestrator.yaml"
    with_options = json.loads(config.read_text())["plugins"] if config.exists() else {}
    name = runtime.partition("-")[0]
    try:
        rt = registry.load("runtime", name, with_options.get(name, {}))
        for name in rt.list_names():
            rt.destroy(rt.handle(name), grace=0.2)
        rt.end_sandbox(socket)
        if runtime == "process":
            t.cast(t.Any, rt).shutdown()
    except Exception as exc:  # a runtime that never ran here has nothing to end
        print(f"  ({runtime} cleanup: {exc})")
    subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, check=False)
    if hosts:
        from tests import sshkit

        sshkit.stop_hosts(hosts)
    shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    env = {
        **os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@example.invalid",
        "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "b@example.invalid",
        "SHELL": "/bin/sh",
    }  # fmt: skip
    for name in ("TMUX", "AO_CONFIG", "PYTHONDONTWRITEBYTECODE"):
        env.pop(name, None)
    print(f"runtimes — {SESSIONS} sessions each, load {os.getloadavg()[0]:.2f}")
    for runtime in sys.argv[1:] or ("tmux", "process", "docker", "ssh", "ssh-copy"):
        bench(runtime, env)


if __name__ == "__main__":
    main()
