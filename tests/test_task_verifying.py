"""A task's verification runs apart from the watcher's pass (ao/lifecycle/verifying.py).

Real tmux, git and processes; the agent is the scripted worker of tests/test_tasks.py.
The verify command blocks until the test releases it (a file appears), so each test
controls exactly when verification ends: no timing is measured. A pass returns while
the verification runs; a later pass acts on its result; a killed job is run again; a
cancelled task's job is ended.
"""

from __future__ import annotations

import json
import os
import signal
import typing as t
from pathlib import Path

from ao.sdk.proc import pid_alive
from tests.sessionkit import Project, wait_for
from tests.test_tasks import FIXED, setup_worker


def blocking_verify(proj: Project) -> tuple[list[str], Path]:
    """A verify command that passes once ``release`` exists, and the release file."""
    release = proj.repo.parent / "release"
    script = f"while [ ! -e {release} ]; do sleep 0.1; done; test -f calc.py"
    return ["sh", "-c", script], release


def job_of(proj: Project) -> dict[str, t.Any] | None:
    (found,) = list(Path(os.environ["AO_HOME"]).glob("*-demo/verify")) or [None]
    path = found / "task-1.json" if found else None
    return json.loads(path.read_text()) if path and path.exists() else None


def task_state(proj: Project) -> str:
    return t.cast(dict[str, str], proj.ao_json("task", "show", "task-1"))["state"]


def start(proj: Project) -> Path:
    setup_worker(proj, {"FIX-ADD": [{"write": {"calc.py": FIXED}}]})
    command, release = blocking_verify(proj)
    r = proj.ao("task", "create", "FIX-ADD", "--verify", " ".join(map(repr, command)))
    assert r.returncode == 0, r.stderr

    def verifying() -> bool:
        proj.ao("watch", "--once")
        return task_state(proj) == "verifying"

    # each pass returns although the verification is blocked
    wait_for(verifying, timeout=60, what="the task to be verifying")
    job = job_of(proj)
    assert job is not None and pid_alive(job["pid"]) and not job["done"]
    return release


def test_a_pass_returns_while_the_verification_runs_and_a_later_one_completes_it(
    proj: Project,
) -> None:
    release = start(proj)
    assert proj.ao("watch", "--once").returncode == 0
    assert task_state(proj) == "verifying"  # still: the pass did not wait
    release.touch()
    wait_for(lambda: (job_of(proj) or {}).get("done") is True, timeout=30, what="the result")
    proj.ao("watch", "--once")
    done = t.cast(dict[str, t.Any], proj.ao_json("task", "show", "task-1"))
    assert done["state"] == "completed" and done["attempts"] == 1, done
    assert job_of(proj) is None  # acted on, then forgotten


def test_a_killed_verification_is_run_again(proj: Project) -> None:
    release = start(proj)
    first = t.cast(dict[str, t.Any], job_of(proj))
    os.killpg(first["pid"], signal.SIGKILL)
    wait_for(lambda: not pid_alive(first["pid"]), timeout=10, what="the job to end")
    proj.ao("watch", "--once")
    again = t.cast(dict[str, t.Any], job_of(proj))
    assert again["pid"] != first["pid"] and pid_alive(again["pid"])
    assert task_state(proj) == "verifying"
    release.touch()
    r = proj.ao("task", "wait", "task-1", "--timeout", "60", timeout=90)
    assert r.returncode == 0, r.stdout + r.stderr
    assert task_state(proj) == "completed"


def test_cancelling_a_task_ends_its_verification(proj: Project) -> None:
    start(proj)
    pid = t.cast(dict[str, t.Any], job_of(proj))["pid"]
    r = proj.ao("task", "cancel", "task-1", "--keep-session")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: not pid_alive(pid), timeout=10, what="the verification to end")
    assert job_of(proj) is None and task_state(proj) == "cancelled"


def test_a_running_watcher_starts_a_killed_job_again_and_completes_the_task(
    proj: Project,
) -> None:
    """A long-running watcher (not one pass at a time) notices a killed job, twice."""
    release = start(proj)
    watcher = proj.popen("watch", "--interval", "0.5")
    try:
        for _ in range(2):  # the second one killed was started by the running watcher
            pid = t.cast(dict[str, t.Any], job_of(proj))["pid"]
            os.killpg(pid, signal.SIGKILL)
            wait_for(lambda p=pid: (job_of(proj) or {"pid": p})["pid"] != p, timeout=30,
                     what="the job started again")  # fmt: skip
        release.touch()
        wait_for(lambda: task_state(proj) == "completed", timeout=60, what="completed")
    finally:
        watcher.terminate()
        watcher.communicate(timeout=30)
