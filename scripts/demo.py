"""`make demo`: ao's main job on a throwaway repo, start to finish.

Creates a scratch repository (with a bare origin), runs `ao start`, spawns three sessions
in parallel (each in its own worktree, branch and tmux session), shows `ao status` while
they work, then stops them all. When real agent CLIs are installed (`make test-deps`
puts Claude Code and Codex in .agents/npm), the sessions run them, driven by a scripted
model server on 127.0.0.1; otherwise the `shell` agent runs shell tasks. Nothing outside
a temp directory and a private tmux socket is touched. Pass --keep to leave everything
running and explore with `ao`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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
                       capture_output=True, timeout=120)  # fmt: skip
    if show:
        sys.stdout.write(r.stdout)
        sys.stderr.write(r.stderr)
    if r.returncode != 0:
        raise SystemExit(f"demo failed: ao {' '.join(args)} exited {r.returncode}")
    return r


ROOT = Path(__file__).resolve().parent.parent
AGENT_BIN = ROOT / ".agents" / "npm" / "bin"
FEATURE = "def greet(name):\n    return f'Hello, {name}!'\n"


def installed_agents() -> list[str]:
    """The real agent CLIs the demo can drive (from .agents/npm/bin)."""
    found = [name for name, binary in (("claude-code", "claude"), ("codex", "codex"))
             if (AGENT_BIN / binary).exists()]  # fmt: skip
    return found if "--shell" not in sys.argv else []


def real_agents_env(env: dict[str, str], home: Path, fake_url: str) -> None:
    """Point Claude Code and Codex at the scripted model, as a logged-in user would be."""
    home.mkdir(parents=True, exist_ok=True)
    (home / ".claude.json").write_text('{"hasCompletedOnboarding": true, "projects": {}}')
    codex = home / ".codex"
    codex.mkdir(exist_ok=True)
    (codex / "config.toml").write_text(
        'model = "gpt-5"\nmodel_provider = "fake"\n\n[model_providers.fake]\nname = "fake"\n'
        f'base_url = "{fake_url}/v1"\nwire_api = "responses"\nenv_key = "FAKE_OPENAI_KEY"\n'
        "supports_websockets = false\n"
    )
    env.update({
        "HOME": str(home), "PATH": f"{AGENT_BIN}:{env['PATH']}",
        "ANTHROPIC_BASE_URL": fake_url, "ANTHROPIC_API_KEY": "sk-ant-demo-0000000000000000000000",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1",
        "FAKE_OPENAI_KEY": "sk-demo",
    })  # fmt: skip


def run_agents(agents: list[str], repo: Path, env: dict[str, str]) -> None:
    """Three real agent sessions in parallel; each writes greet.py in its own worktree."""
    import json

    picks = [agents[i % len(agents)] for i in range(3)]
    print(f"\n$ ao new … (three sessions in parallel: {', '.join(picks)})", flush=True)
    with ThreadPoolExecutor(3) as pool:
        runs = pool.map(
            lambda a: ao("new", "Add greet.py with a greet(name) function", "--agent", a,
                         cwd=repo, env=env, show=False),
            picks,
        )  # fmt: skip
        for r in runs:
            sys.stdout.write(r.stdout)
    ao("status", cwd=repo, env=env)
    ids = [
        s["id"]
        for s in json.loads(ao("list", "--json", cwd=repo, env=env, show=False).stdout)["data"]
    ]
    deadline = time.monotonic() + 90
    answered: set[str] = set()
    while time.monotonic() < deadline:
        docs = [json.loads(ao("status", i, "--json", cwd=repo, env=env, show=False).stdout)["data"]
                for i in ids]  # fmt: skip
        for d in docs:
            if d["activity"] == "needs_input" and d["id"] not in answered:
                # the orchestrator's job: a permission prompt gets an answer
                ao("why", d["id"], cwd=repo, env=env)
                ao("send", d["id"], "yes", cwd=repo, env=env)
                answered.add(d["id"])
        if all(d["activity"] == "ready" and Path(d["worktree"], "greet.py").exists() for d in docs):
            break
        time.sleep(1)
    ao("status", cwd=repo, env=env)
    for i in ids:
        ao("why", i, cwd=repo, env=env)
    for d in docs:
        print(f"\n{d['id']} ({d['agent']}) wrote {d['worktree']}/greet.py:")
        print(
            Path(d["worktree"], "greet.py").read_text()
            if Path(d["worktree"], "greet.py").exists()
            else "(missing)"
        )


def main() -> None:
    keep = "--keep" in sys.argv
    for tool in ("tmux", "git"):
        if not shutil.which(tool):
            raise SystemExit(f"the demo needs {tool}; install it first")
    tmp = Path(tempfile.mkdtemp(prefix="ao-demo-"))
    socket = f"ao-demo-{os.getpid()}"
    env = {
        **os.environ, "AO_HOME": str(tmp / "ao-home"), "AO_TMUX_SOCKET": socket, "SHELL": "/bin/sh",
        "GIT_AUTHOR_NAME": "ao demo", "GIT_AUTHOR_EMAIL": "demo@example.invalid",
        "GIT_COMMITTER_NAME": "ao demo", "GIT_COMMITTER_EMAIL": "demo@example.invalid",
    }  # fmt: skip
    env.pop("TMUX", None)
    env.pop("AO_CONFIG", None)
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
    fake = None
    if agents:
        sys.path.insert(0, str(ROOT))
        from tests.agents.fakemodel import FakeModel, text, write_file

        fake = FakeModel([write_file("greet.py", FEATURE), text("Added greet.py.")]).start()
        real_agents_env(env, tmp / "home", fake.url)
    try:
        ao("start", "--name", "demo-app", cwd=repo, env=env)
        if agents:
            run_agents(agents, repo, env)
            ao("events", "-n", "8", cwd=repo, env=env)
            if not keep:
                ao("stop", "--project", "demo-app", "--all", cwd=repo, env=env)
            return
        print("\n$ ao new … (three sessions in parallel)", flush=True)
        with ThreadPoolExecutor(3) as pool:
            for r in pool.map(lambda task: ao("new", task, cwd=repo, env=env, show=False), TASKS):
                sys.stdout.write(r.stdout)
        ao("status", cwd=repo, env=env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            logs = [ao("logs", f"da-{i}", cwd=repo, env=env, show=False).stdout for i in (1, 2, 3)]
            if all(
                f"DONE-{i}" in log.split("echo DONE")[-1]
                for i, log in zip((1, 2, 3), logs, strict=True)
            ):
                break
            time.sleep(0.5)
        ao("status", cwd=repo, env=env)
        ao("logs", "da-1", "-n", "6", cwd=repo, env=env)
        ao("events", "-n", "8", cwd=repo, env=env)
        for i in (1, 2, 3):
            print(
                f"\n$ git log --oneline ao/da-{i}\n"
                + sh("git", "log", "--oneline", f"ao/da-{i}", cwd=repo, env=env),
                end="",
            )
        if keep:
            print(
                f"\nleft running. Try: AO_HOME={env['AO_HOME']} "
                f"AO_TMUX_SOCKET={socket} ao attach da-1"
            )
            return
        ao("stop", "--project", "demo-app", "--all", cwd=repo, env=env)
        ao("list", "--all", cwd=repo, env=env)
    finally:
        if fake is not None and not keep:
            fake.close()
        if not keep:
            subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, check=False)
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
