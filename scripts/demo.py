"""`make demo`: ao's main job on a throwaway repo, start to finish.

Creates a scratch repository (with a bare origin), runs `ao start`, spawns three sessions
in parallel (each in its own worktree, branch and tmux session), shows `ao status` while
they work, then stops them all. Nothing outside a temp directory and a private tmux
socket is touched. Pass --keep to leave everything running and explore with `ao`.
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
    try:
        ao("start", "--name", "demo-app", cwd=repo, env=env)
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
        if not keep:
            subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, check=False)
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
