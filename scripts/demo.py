"""`make demo`: ao's main job on a throwaway repo, start to finish.

Creates a scratch repository (with a bare origin), runs `ao start` and the dashboard
(`ao dashboard` on a free port: its URL, with the token, is printed at the start and again
at the end, and it serves while the demo runs), spawns three sessions in parallel (each in
its own worktree, branch and tmux session), follows their states in `ao status`, answers
their permission prompts with `ao send`, then stops them all. On a terminal, the demo waits
for Enter before stopping them, so the dashboard can be explored.

When real agent CLIs are installed (`make test-deps` puts them in .agents/npm), the
sessions run three different ones (preference: Claude Code, Codex, Gemini CLI, OpenCode,
Pi, Aider; with fewer installed, they repeat). Each is pointed at ao's scripted model on
127.0.0.1 by its adapter's `selftest_env` (what `ao doctor --agents` uses), all sharing
one scratch HOME, and each writes greet.py. Without any, the `shell` agent runs shell
tasks (also with --shell). Nothing outside a temp directory and a private tmux socket is
touched. Pass --keep to leave everything running (the dashboard too) and explore with `ao`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import typing as t
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AGENT_BIN = ROOT / ".agents" / "npm" / "bin"
PREFERENCE = ("claude-code", "codex", "gemini", "opencode", "pi", "aider")
TASK = "Add greet.py with a greet(name) function"
FEATURE = "def greet(name):\n    return f'Hello, {name}!'\n"
AGENT_TIMEOUT = 120  # seconds for the three real agents to finish
ANSWER_AGAIN = 15  # seconds an answered prompt may stay up before it is answered again

# The `shell` agent types each task into a shell in the session's worktree.
TASKS = [
    "sleep 2; printf 'def add(a, b):\\n    return a + b\\n' > calc.py"
    " && git add calc.py && git commit -qm 'Add calc' && echo DONE-1",
    "sleep 3; printf '# Usage\\n\\nRun it.\\n' > USAGE.md"
    " && git add USAGE.md && git commit -qm 'Add usage' && echo DONE-2",
    "sleep 4; python3 -c 'print(sum(range(10)))' > answer.txt"
    " && git add answer.txt && git commit -qm 'Add answer' && echo DONE-3",
]


def sh(*argv: str, cwd: Path, env: dict[str, str]) -> str:
    return subprocess.run(
        argv, cwd=cwd, env=env, check=True, capture_output=True, text=True, timeout=120
    ).stdout


def ao(
    *args: str, cwd: Path, env: dict[str, str], show: bool = True
) -> subprocess.CompletedProcess[str]:
    if show:
        print(f"\n$ ao {' '.join(args)}", flush=True)
    r = subprocess.run([sys.executable, "-m", "ao", *args], cwd=cwd, env=env, text=True,
                       capture_output=True, timeout=120, stdin=subprocess.DEVNULL)  # fmt: skip
    if show:
        sys.stdout.write(r.stdout)
        sys.stderr.write(r.stderr)
    if r.returncode != 0:
        detail = "" if show else f":\n{r.stderr or r.stdout}"
        raise SystemExit(f"demo failed: ao {' '.join(args)} exited {r.returncode}{detail}")
    return r


def installed_agents() -> list[tuple[str, t.Any]]:
    """Up to three real agent CLIs the demo can drive, in preference order, with adapters."""
    if "--shell" in sys.argv:
        return []
    from ao import registry

    path = f"{AGENT_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    found = []
    for name in PREFERENCE:
        with contextlib.suppress(Exception):
            agent = registry.load("agent", name)
            if hasattr(agent, "selftest_env") and shutil.which(agent.binary, path=path):
                found.append((name, agent))
    return found[:3]


def agents_env(agents: list[tuple[str, t.Any]], model_url: str, home: Path) -> dict[str, str]:
    """Every adapter's `selftest_env` in one scratch HOME; fails if two of them clash."""
    home.mkdir(parents=True)
    merged: dict[str, str] = {}
    files: dict[Path, bytes] = {}
    for name, agent in agents:
        for key, value in agent.selftest_env(model_url, home).items():
            if merged.setdefault(key, value) != value:
                raise SystemExit(f"demo failed: {name} sets {key}={value}, another {merged[key]}")
        for f in (p for p in home.rglob("*") if p.is_file()):
            if files.setdefault(f, f.read_bytes()) != f.read_bytes():
                raise SystemExit(f"demo failed: {name} rewrote {f} in the shared HOME")
    return merged


def run_agents(agents: list[str], repo: Path, env: dict[str, str]) -> None:
    """Three real agent sessions in parallel; each writes greet.py in its own worktree."""
    picks = [agents[i % len(agents)] for i in range(3)]
    print(f"\n$ ao new '{TASK}' --agent … (three in parallel: {', '.join(picks)})", flush=True)
    with ThreadPoolExecutor(3) as pool:
        runs = pool.map(lambda a: ao("new", TASK, "--agent", a, cwd=repo, env=env, show=False),
                        picks)  # fmt: skip
        for r in runs:
            sys.stdout.write(r.stdout)
    ao("status", cwd=repo, env=env)

    def sessions() -> list[dict[str, t.Any]]:
        # one listing: it reads every pane's screen too (Gemini's prompt shows only there)
        r = ao("status", "--json", cwd=repo, env=env, show=False)
        return t.cast(list[dict[str, t.Any]], json.loads(r.stdout)["data"])

    started = time.monotonic()
    asked: dict[str, float] = {}  # session -> when it was first seen asking
    answered: dict[str, float] = {}  # session -> when it was last answered
    last = ""
    docs = sessions()
    while True:
        now = time.monotonic()
        line = "  ".join(f"{d['id']} ({d['agent']}): {d['activity']}" for d in docs)
        if line != last:
            print(f"[{now - started:5.1f}s] {line}", flush=True)
            last = line
        done = [d for d in docs if d["activity"] == "ready" and wrote(d)]
        if len(done) == len(docs) == 3:
            break
        for d in docs:
            if d["activity"] == "exited":
                fail(f"{d['id']} ({d['agent']}) exited", repo, env, docs)
            if d["activity"] != "needs_input":
                asked.pop(d["id"], None)
                continue
            # as a person would: let the menu draw, answer, and ask again if it stays up
            first = asked.setdefault(d["id"], now)
            if now - first >= 1 and now - answered.get(d["id"], -ANSWER_AGAIN) >= ANSWER_AGAIN:
                ao("why", d["id"], cwd=repo, env=env)
                ao("send", d["id"], "yes", cwd=repo, env=env)
                answered[d["id"]] = time.monotonic()
                last = ""
        if now - started > AGENT_TIMEOUT:
            fail(f"not every agent wrote greet.py within {AGENT_TIMEOUT}s", repo, env, docs)
        time.sleep(0.5)
        docs = sessions()
    if not answered:
        print("\n(no agent asked for permission this time)")
    ao("status", cwd=repo, env=env)
    ao("why", docs[0]["id"], cwd=repo, env=env)
    for d in docs:
        print(f"\n$ cat {d['worktree']}/greet.py   # {d['id']}, {d['agent']}")
        print(Path(d["worktree"], "greet.py").read_text(), end="")


def wrote(doc: dict[str, t.Any]) -> bool:
    path = Path(doc.get("worktree") or "/nonexistent", "greet.py")
    return path.exists() and path.read_text() == FEATURE


def fail(why: str, repo: Path, env: dict[str, str], docs: list[dict[str, t.Any]]) -> t.NoReturn:
    """Show what ao knows about the sessions, then stop the demo with a non-zero exit."""
    ao("status", cwd=repo, env=env, show=True)
    for args in [("why", d["id"]) for d in docs] + [("logs", d["id"], "-n", "15") for d in docs]:
        print(f"\n$ ao {' '.join(args)}", flush=True)
        subprocess.run([sys.executable, "-m", "ao", *args], cwd=repo, env=env, check=False)
    raise SystemExit(f"demo failed: {why}")


def run_shell(repo: Path, env: dict[str, str]) -> None:
    """Three `shell` sessions in parallel, each committing a file on its own branch."""
    print("\n$ ao new … (three sessions in parallel)", flush=True)
    with ThreadPoolExecutor(3) as pool:
        for r in pool.map(lambda task: ao("new", task, cwd=repo, env=env, show=False), TASKS):
            sys.stdout.write(r.stdout)
    ao("status", cwd=repo, env=env)
    deadline = time.monotonic() + 30
    while True:
        # the three start in parallel: which session got which task is not known
        logs = [ao("logs", f"da-{i}", cwd=repo, env=env, show=False).stdout for i in (1, 2, 3)]
        done = {n for log in logs for n in (1, 2, 3) if f"DONE-{n}" in log.split("echo DONE")[-1]}
        if done == {1, 2, 3}:
            break
        if time.monotonic() > deadline:
            raise SystemExit("demo failed: the shell tasks did not finish within 30s")
        time.sleep(0.5)
    ao("status", cwd=repo, env=env)
    ao("logs", "da-1", "-n", "6", cwd=repo, env=env)
    for i in (1, 2, 3):
        log = sh("git", "log", "--oneline", f"ao/da-{i}", cwd=repo, env=env)
        print(f"\n$ git log --oneline ao/da-{i}\n{log}", end="")


def start_dashboard(repo: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """`ao dashboard` on a free port for the demo's config; its URL with the token."""
    print("\n$ ao dashboard --port 0", flush=True)
    board = subprocess.Popen(
        [sys.executable, "-m", "ao", "dashboard", "--port", "0"], cwd=repo, env=env, text=True,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    assert board.stdout is not None
    url = board.stdout.readline().strip()
    if not url:
        raise SystemExit(f"demo failed: ao dashboard exited {board.wait()}")
    print(f"dashboard: {url}\n(open it to watch the sessions live; it serves while the demo runs)")
    return board, url


def stop_dashboard(board: subprocess.Popen[str] | None) -> None:
    if board is not None and board.poll() is None:
        with contextlib.suppress(OSError):
            os.killpg(board.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            board.wait(10)


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


def main() -> None:
    keep = "--keep" in sys.argv
    for tool in ("tmux", "git"):
        if not shutil.which(tool):
            raise SystemExit(f"the demo needs {tool}; install it first")
    begun = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="ao-demo-")).resolve()
    socket = f"ao-demo-{os.getpid()}"
    env = {
        **os.environ, "AO_HOME": str(tmp / "ao-home"), "AO_TMUX_SOCKET": socket, "SHELL": "/bin/sh",
        "GIT_AUTHOR_NAME": "ao demo", "GIT_AUTHOR_EMAIL": "demo@example.invalid",
        "GIT_COMMITTER_NAME": "ao demo", "GIT_COMMITTER_EMAIL": "demo@example.invalid",
    }  # fmt: skip
    env.pop("TMUX", None)
    env.pop("AO_CONFIG", None)
    model = None
    board = None
    try:
        repo = tmp / "demo-app"
        origin = tmp / "demo-app.git"
        sh("git", "init", "-q", "--bare", "-b", "main", str(origin), cwd=tmp, env=env)
        sh("git", "init", "-q", "-b", "main", str(repo), cwd=tmp, env=env)
        (repo / "README.md").write_text("# demo-app\n")
        sh("git", "add", "README.md", cwd=repo, env=env)
        sh("git", "commit", "-qm", "Initial commit", cwd=repo, env=env)
        sh("git", "remote", "add", "origin", str(origin), cwd=repo, env=env)
        sh("git", "push", "-q", "-u", "origin", "main", cwd=repo, env=env)
        print(f"scratch repo: {repo}\nao state:     {env['AO_HOME']}\ntmux socket:  {socket}")
        agents = installed_agents()
        if agents:
            from ao.selftest.combined import ScriptedModel
            from ao.selftest.server import text, write_file

            # steps count per conversation (by the model turns a request holds), so
            # each agent gets its own "write greet.py", then its own answer
            model = ScriptedModel([write_file("greet.py", FEATURE), text("Added greet.py.")])
            model.start()
            env.update(agents_env(agents, model.url, tmp / "home"))
            env["PATH"] = f"{AGENT_BIN}{os.pathsep}{env['PATH']}"
            print(f"scripted model: {model.url} (agents: {', '.join(n for n, _ in agents)})")
        # the dashboard on a free port (port 3000 may be taken), not the one `ao start` runs
        ao("start", "--name", "demo-app", "--no-dashboard", cwd=repo, env=env)
        board, url = start_dashboard(repo, env)
        if agents:
            run_agents([name for name, _ in agents], repo, env)
        else:
            run_shell(repo, env)
        ao("events", "-n", "12", cwd=repo, env=env)
        if keep:
            print(f"\nleft running. Try: AO_HOME={env['AO_HOME']} AO_TMUX_SOCKET={socket} "
                  f"HOME={env['HOME']} ao attach da-1")  # fmt: skip
            print(f"clean up later: kill {board.pid}; tmux -L {socket} kill-server; rm -rf {tmp}")
            print(f"\nthe dashboard of the demo's sessions (it keeps serving):\n{url}", flush=True)
            board = None  # left running
            if model is not None:
                print("the agents' scripted model serves until Ctrl-C here", flush=True)
                with contextlib.suppress(KeyboardInterrupt):
                    while True:
                        time.sleep(3600)
            return
        print(f"\nthe dashboard of the demo's sessions:\n{url}", flush=True)
        if sys.stdin.isatty():
            with contextlib.suppress(EOFError, KeyboardInterrupt):
                input("press Enter to stop the sessions and clean up ")
        ao("stop", "--project", "demo-app", "--all", cwd=repo, env=env)
        ao("list", "--all", cwd=repo, env=env)
        print(f"\ndemo finished in {time.monotonic() - begun:.0f}s; cleaned up {tmp}")
        print(f"(its dashboard served at {url.partition('/?')[0]} while it ran)")
    finally:
        stop_dashboard(board)
        if model is not None:
            model.close()
        if not keep:
            cleanup(socket, tmp)


if __name__ == "__main__":
    main()
