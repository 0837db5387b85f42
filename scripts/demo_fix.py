"""`make demo-fix`: `ao fix` takes a small red repo to green with three agents in parallel.

A throwaway repository (with a bare origin) has three failing tests, each in its own file
against its own module. The demo shows the plan (`ao fix --dry-run`), starts the watcher
(`ao watch --interval 1`, in the background), starts three agents (`ao fix -j 3`), prints
`ao fix status` each time an item moves (failing → fixing → queued → merging → merged),
then the final table, main's history and the test run on main: green.

The agents are Claude Code when it is installed (`scripts/install-agents.sh` puts it in
.agents/npm), pointed at ao's scripted model on 127.0.0.1 by its adapter's `selftest_env`
(as `make demo` does): each conversation is routed by the failing test in its task to
turns that fix that test's module with the agent's own shell tool and commit. Without
Claude Code (or with --shell), the `shell` agent runs tests/fixtures/worker.py, a scripted
stand-in that writes the fix. Either way ao, not the agent, checks each fix and merges it.
Everything lives in a temp directory and a private tmux server, both removed at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo import AGENT_BIN, ROOT, ao, cleanup, sh  # scripts/demo.py

WORKER = ROOT / "tests" / "fixtures" / "worker.py"
TIMEOUT = 150  # seconds for the run to finish
THINK = 5.0  # seconds the scripted model takes to answer a task, as a real one would
PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]

# module -> (its broken body, its fix, the test), one failing test each
RED = {
    "calc": ("def add(a, b):\n    return a - b\n", "def add(a, b):\n    return a + b\n",
             "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"),
    "text": ("def shout(s):\n    return s.lower() + '!'\n",
             "def shout(s):\n    return s.upper() + '!'\n",
             "from text import shout\n\n\ndef test_shout():\n    assert shout('hi') == 'HI!'\n"),
    "leap": ("def is_leap(year):\n    return year % 4 == 0\n",
             "def is_leap(year):\n    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)"
             "\n",
             "from leap import is_leap\n\n\ndef test_is_leap():\n"
             "    assert [is_leap(y) for y in (1900, 2000, 2024)] == [False, True, True]\n"),
}  # fmt: skip
TESTS = {"calc": "test_add", "text": "test_shout", "leap": "test_is_leap"}


def marker(module: str) -> str:
    """What the task of ``module``'s failing test names: its pytest node id."""
    return f"test_{module}.py::{TESTS[module]}"


def make_red_repo(tmp: Path, env: dict[str, str]) -> Path:
    repo, origin = tmp / "demo-app", tmp / "demo-app.git"
    sh("git", "init", "-q", "--bare", "-b", "main", str(origin), cwd=tmp, env=env)
    sh("git", "init", "-q", "-b", "main", str(repo), cwd=tmp, env=env)
    (repo / "tests").mkdir()
    for module, (broken, _, test) in RED.items():
        (repo / f"{module}.py").write_text(broken)
        (repo / "tests" / f"test_{module}.py").write_text(test)
    (repo / ".gitignore").write_text("__pycache__/\n")
    sh("git", "add", ".", cwd=repo, env=env)
    sh("git", "commit", "-qm", "Three modules, three failing tests", cwd=repo, env=env)
    sh("git", "remote", "add", "origin", str(origin), cwd=repo, env=env)
    sh("git", "push", "-q", "-u", "origin", "main", cwd=repo, env=env)
    return repo


def claude_code() -> t.Any | None:
    """Claude Code's adapter if its CLI is installed (and --shell was not given)."""
    if "--shell" in sys.argv:
        return None
    from ao import registry

    with contextlib.suppress(Exception):
        agent = registry.load("agent", "claude-code")
        path = f"{AGENT_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
        if shutil.which(agent.binary, path=path):
            return agent
    return None


def scripted_model(agent: t.Any, tmp: Path, env: dict[str, str]) -> t.Any:
    """ao's scripted model with one route per failing test; Claude Code pointed at it."""
    from ao.selftest.model import FakeModel
    from ao.selftest.server import shell, text

    model = FakeModel().start()
    for module, (_, fixed, _) in RED.items():
        fix = f"printf %s {shlex.quote(fixed)} > {module}.py"
        model.route(marker(module),
                    shell(f"{fix} && git commit -qam 'Fix {module}.py'", delay=THINK),
                    text(f"Fixed {module}.py; {TESTS[module]} passes now."))  # fmt: skip
    home = tmp / "home"
    home.mkdir()
    env.update(agent.selftest_env(model.url, home))
    env["PATH"] = f"{AGENT_BIN}{os.pathsep}{env['PATH']}"
    return model


def configure(repo: Path, claude: bool) -> Path:
    """The project's config, next to the repo: its test check and the agent."""
    project: dict[str, t.Any] = {
        "path": str(repo), "sessionPrefix": "fx",
        "checks": {"tests": {"run": PYTEST, "parser": "pytest"}},
    }  # fmt: skip
    config: dict[str, t.Any] = {"projects": {"demo-app": project}}
    if claude:
        config["defaults"] = {"agent": "claude-code"}
        project.update(model="claude-sonnet-4-5", permissions="bypass")
    else:
        scripts = repo.parent / "worker-scripts.json"
        scripts.write_text(json.dumps({
            marker(module): [{"write": {f"{module}.py": fixed}}]
            for module, (_, fixed, _) in RED.items()
        }))  # fmt: skip
        logs = repo.parent / "worker-logs"
        logs.mkdir()
        config["defaults"] = {"agent": "shell"}
        config["agents"] = {"shell": {
            "command": [sys.executable, str(WORKER), str(scripts), str(logs)],
            "readyPattern": r"READY>\s*$",
        }}  # fmt: skip
    path = repo.parent / "agent-orchestrator.yaml"
    path.write_text(json.dumps(config, indent=1))  # JSON is YAML
    return path


def follow(tmp: Path, env: dict[str, str], watcher: subprocess.Popen[str], started: float) -> None:
    """Print `ao fix status` each time an item moves (`ao fix` showed where it began),
    until the run has finished."""
    shown = None
    while True:
        table = ao("fix", "status", cwd=tmp, env=env, show=False).stdout
        lines = table.splitlines()
        moves = [row.split()[:4] for row in lines[2:]]  # item, state, session, sent back
        shown = moves if shown is None else shown
        finished = "finished" in lines[0]
        if moves != shown or finished:
            done = ": finished" if finished else ""
            print(f"\n[{time.monotonic() - started:4.1f}s after ao fix{done}]\n$ ao fix status")
            print(table, end="", flush=True)
            shown = moves
        if finished:
            return
        if watcher.poll() is not None:
            raise SystemExit(f"demo failed: the watcher exited {watcher.returncode}")
        if time.monotonic() - started > TIMEOUT:
            ao("events", "-n", "30", cwd=tmp, env=env)
            raise SystemExit(f"demo failed: the fix run did not finish within {TIMEOUT}s")
        time.sleep(1)


def main() -> None:
    for tool in ("tmux", "git"):
        if not shutil.which(tool):
            raise SystemExit(f"the demo needs {tool}; install it first")
    begun = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="ao-demo-fix-")).resolve()
    socket = f"ao-demo-fix-{os.getpid()}"
    env = {
        **os.environ, "AO_HOME": str(tmp / "ao-home"), "AO_TMUX_SOCKET": socket, "SHELL": "/bin/sh",
        "GIT_AUTHOR_NAME": "ao demo", "GIT_AUTHOR_EMAIL": "demo@example.invalid",
        "GIT_COMMITTER_NAME": "ao demo", "GIT_COMMITTER_EMAIL": "demo@example.invalid",
    }  # fmt: skip
    for var in ("TMUX", "AO_CONFIG", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN",
                "ANTHROPIC_BASE_URL", "CLAUDE_CODE_OAUTH_TOKEN", "CLAUDE_CONFIG_DIR"):  # fmt: skip
        env.pop(var, None)
    model = None
    watcher: subprocess.Popen[str] | None = None
    try:
        repo = make_red_repo(tmp, env)
        agent = claude_code()
        if agent is not None:
            model = scripted_model(agent, tmp, env)
            who = f"Claude Code against ao's scripted model ({model.url})"
        else:
            who = "the shell agent running a scripted worker (tests/fixtures/worker.py)"
        configure(repo, claude=agent is not None)
        print(f"scratch repo: {repo}\nao state:     {env['AO_HOME']}\ntmux socket:  {socket}")
        print(f"agents:       {who}")
        print(f"\n$ python -m pytest -q   # in {repo.name}: three failing tests", flush=True)
        red = subprocess.run(PYTEST, cwd=repo, env=env, capture_output=True, text=True,
                             timeout=120, check=False)  # fmt: skip
        print("\n".join(line for line in red.stdout.splitlines() if line.startswith("FAILED")
                        or " failed" in line))  # fmt: skip
        ao("fix", "--dry-run", cwd=tmp, env=env)
        print("\n$ ao watch --interval 1 &   # verifies each fix and merges it (or `ao start`)")
        watcher = subprocess.Popen(
            [sys.executable, "-m", "ao", "watch", "--interval", "1"], cwd=tmp, env=env,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            text=True, start_new_session=True,
        )  # fmt: skip
        started = time.monotonic()
        ao("fix", "-j", "3", cwd=tmp, env=env)
        follow(tmp, env, watcher, started)
        r = ao("fix", "status", "--json", cwd=tmp, env=env, show=False)
        done = json.loads(r.stdout)["data"]
        log = sh("git", "log", "--oneline", "main", cwd=repo, env=env)
        print(f"\n$ git log --oneline main\n{log}", end="")
        print("\n$ python -m pytest -q   # on main, in the checkout", flush=True)
        green = subprocess.run(PYTEST, cwd=repo, env=env, capture_output=True, text=True,
                               timeout=120, check=False)  # fmt: skip
        print(green.stdout.strip().splitlines()[-1])
        merged = [i["id"] for i in done["items"] if i["state"] == "merged"]
        if green.returncode != 0 or len(merged) != len(RED):
            raise SystemExit(f"demo failed: main is not green ({len(merged)} of {len(RED)} "
                             "fixes merged)")  # fmt: skip
        print(f"\ndemo finished in {time.monotonic() - begun:.0f}s: {len(merged)} fixes "
              f"merged, main green; cleaned up {tmp}")  # fmt: skip
    finally:
        if watcher is not None and watcher.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(watcher.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                watcher.wait(10)
        if model is not None:
            model.close()
        cleanup(socket, tmp)


if __name__ == "__main__":
    main()
