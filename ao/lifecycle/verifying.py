"""A task's verification, run apart from the pass that starts it.

Verify commands can take minutes (a whole test suite); the watcher's pass must not wait
for them, or every other session would go unwatched meanwhile. So the pass that sees a
task's turn end starts a verification job, a detached ``python -m ao.lifecycle.verifying
JOB`` in its own process group, and moves on; a later pass finds its result. The job's
file (``verify/<task>.json``, written atomically) holds what to run, for which turn
(the task's ``turn_at``), the job's pid, and once done the first failure or none.

kill -9 anywhere is safe: a job whose process is gone without a result is started again;
a job for an older turn is ended and replaced; one that outlives its commands' timeouts
is ended as timed out.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import typing as t
from pathlib import Path

from ao.sdk.proc import pid_alive
from ao.sdk.textsafe import strip_controls
from ao.store.locks import atomic_write, locked

if t.TYPE_CHECKING:
    from collections.abc import Sequence

    from ao.store.paths import ProjectPaths

OUTPUT_LIMIT = 4000  # characters of a failed check's output kept and sent back
GRACE = 60.0  # seconds a job may take beyond its commands' timeouts before it is ended

Failure = tuple[str, str, str]  # (command, what happened, the tail of its output)


@dataclasses.dataclass
class Job:
    """One verification of one turn of a task."""

    task: str
    turn: str  # which turn it verifies: the task's turn and the moment the agent finished it
    worktree: str
    commands: list[list[str]]
    gate: str | None
    timeout: float
    config: str  # the project's config file and id, for the gate's fix run
    project: str
    pid: int = 0
    started: float = 0.0
    done: bool = False
    failure: Failure | None = None

    @property
    def deadline(self) -> float:
        """When the job is overdue: every command and the gate at their timeout, and more."""
        steps = len(self.commands) + (1 if self.gate else 0)
        return self.started + self.timeout * max(steps, 1) + GRACE


def job_file(paths: ProjectPaths, task_id: str) -> Path:
    """Where the job of ``task_id`` is kept."""
    return paths.root / "verify" / f"{task_id}.json"


def read(paths: ProjectPaths, task_id: str) -> Job | None:
    """The task's job, if one was started (an unreadable file counts as none)."""
    with contextlib.suppress(OSError, ValueError, TypeError):
        data = json.loads(job_file(paths, task_id).read_text(encoding="utf-8"))
        failure = data.pop("failure", None)
        return Job(**data, failure=tuple(failure) if failure else None)
    return None


def _write(path: Path, job: Job) -> None:
    atomic_write(path, json.dumps(dataclasses.asdict(job)), mode=0o600)


def _lock(path: Path) -> t.ContextManager[None]:
    """The job file's writers (the pass that starts it, the job recording its result)."""
    return locked(path.with_name(path.name + ".lock"), timeout=30.0)


def start(paths: ProjectPaths, job: Job) -> Job:
    """Start ``job`` detached (its own process group) and record it."""
    path = job_file(paths, job.task)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    job.started, job.done, job.failure, job.pid = time.time(), False, None, 0
    with _lock(path):
        _write(path, job)  # before the process: it reads its spec from the file
        child = subprocess.Popen(
            [sys.executable, "-m", "ao.lifecycle.verifying", str(path)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, cwd=job.worktree,
        )  # fmt: skip
        job.pid = child.pid
        _write(path, job)  # the job records its result under the same lock: never lost
    return job


def state(job: Job) -> t.Literal["done", "running", "lost", "overdue"]:
    """Where a recorded job is: finished, still running, gone without a result (killed),
    or running past its deadline."""
    if job.done:
        return "done"
    if not job.pid or not _running(job.pid):
        return "lost"
    return "overdue" if time.time() > job.deadline else "running"


def _running(pid: int) -> bool:
    """Whether the job's process runs: a job this process started (a long-running
    watcher) and that ended is reaped first, so it never reads as alive."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    return pid_alive(pid)


def end(paths: ProjectPaths, task_id: str) -> None:
    """End the task's job, if any (its whole process group), and forget it."""
    job = read(paths, task_id)
    if job is not None and not job.done and job.pid and _running(job.pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(job.pid, signal.SIGKILL)
    with contextlib.suppress(FileNotFoundError):
        job_file(paths, task_id).unlink()


# ------------------------------------------------------------------------ the job itself


def run_check(argv: Sequence[str], cwd: Path, timeout: float) -> Failure | None:
    """Run one verify command; None when it passes, else (command, what happened, the
    tail of its output)."""
    command = shlex.join(argv)
    try:
        child = subprocess.Popen(
            list(argv), cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    except OSError as exc:
        return command, f"could not start ({exc.strerror or exc})", ""
    try:
        out, _ = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)  # its own session: the whole tree ends
        out, _ = child.communicate()
        return command, f"timed out after {timeout:g}s", _tail(out)
    if child.returncode == 0:
        return None
    return command, f"exited {child.returncode}", _tail(out)


def _tail(out: bytes) -> str:
    text = strip_controls(out.decode("utf-8", "replace"))
    return text if len(text) <= OUTPUT_LIMIT else "…" + text[-OUTPUT_LIMIT:]


def run(job: Job) -> Failure | None:
    """The verification: each command in order, then the gate; the first failure."""
    worktree = Path(job.worktree)
    for argv in job.commands:
        failure = run_check(argv, worktree, job.timeout)
        if failure is not None:
            return failure
    if job.gate:
        # lazy: only a fix task's job needs the fix run's gate
        from ao.fix.work import gate_task
        from ao.store.paths import ProjectPaths

        paths = ProjectPaths(Path(job.config), job.project)
        why = gate_task(paths, job.gate, worktree, job.timeout)
        if why is not None:
            return job.gate, "did not pass", why
    return None


def main(argv: Sequence[str]) -> int:
    """``python -m ao.lifecycle.verifying JOB``: run the job and record its result."""
    path = Path(argv[0])
    data = json.loads(path.read_text(encoding="utf-8"))
    data.pop("failure", None)
    job = Job(**data)
    try:
        failure = run(job)
    except Exception as exc:  # recorded as the verification's failure, never lost
        failure = ("verification", "could not run", f"{type(exc).__name__}: {exc}")
    with _lock(path), contextlib.suppress(OSError, ValueError):
        current = json.loads(path.read_text(encoding="utf-8"))
        if current.get("started") == job.started:  # else replaced: for nobody now
            job.pid, job.done, job.failure = os.getpid(), True, failure
            _write(path, job)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
