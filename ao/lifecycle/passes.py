"""Asking the running watcher for a pass: ``ao watch --once`` while ``ao watch`` runs.

One watcher holds a config's watch lock. A ``--once`` caller that finds it held writes a
request file (unique id) into ``locks/watch-<hash>.passes/``, wakes the holder with
``SIGUSR1`` and waits for the answer file the holder writes (atomically) with the report
of a tick that *started after* the request was written: the watcher lists the pending
requests before it gathers any facts, so a tick already under way never counts.

The holder says in the lock file that it serves requests (``<pid> passes``), and only
after its ``SIGUSR1`` handler is installed; nothing else is ever signalled. While idle,
the watcher sleeps in ``select`` on a signal wake-up pipe: no polling, and ``SIGTERM``
ends the sleep at once. If the holder exits or dies without answering, the caller takes
the lock and runs the pass itself; if it does not answer in time, the caller gives up.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import select
import signal
import threading
import time
import typing as t
from pathlib import Path

from ao.lifecycle.report import report_data
from ao.sdk.errors import AoError
from ao.sdk.proc import pid_alive
from ao.store.locks import atomic_write
from ao.store.paths import watch_lock_path as lock_path

if t.TYPE_CHECKING:
    from ao.lifecycle.report import TickReport
    from ao.lifecycle.watch import Watcher

SERVES = "passes"  # the lock-file word of a holder that answers requests
REQUEST, ANSWER = ".req", ".json"
STALE_AFTER = 600.0  # an answer nobody fetched (its caller gave up) is removed after this


@dataclasses.dataclass(frozen=True)
class Request:
    """A caller's wish for one pass (over ``project``, or every project when None)."""

    id: str
    project: str | None
    pid: int


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What ``run_once`` did: ``ran`` (by ``self`` or the ``watcher``), ``skipped``,
    ``timeout`` (the holder did not answer in time) or ``interrupted`` (SIGTERM/^C)."""

    status: str
    ran_by: str | None = None
    data: dict[str, t.Any] | None = None  # the report (``report_data``) when it ran
    watcher_pid: int | None = None
    detail: str = ""


def inbox_dir(lock: Path) -> Path:
    """Where requests and answers for the holder of ``lock`` live."""
    return lock.with_suffix(".passes")


def holder(lock: Path) -> tuple[int | None, bool]:
    """(pid, serves requests) as the lock's holder wrote them; (None, False) if unknown."""
    try:
        words = lock.read_text(encoding="utf-8", errors="replace").split()
    except OSError:
        return None, False
    pid = int(words[0]) if words and words[0].isdigit() else None
    return pid, pid is not None and SERVES in words[1:]


def _read_json(path: Path) -> dict[str, t.Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class Inbox:
    """The request directory of one config's watch lock, for both sides."""

    def __init__(self, lock: Path) -> None:
        self.dir = inbox_dir(lock)
        self._rfd: int | None = None
        self._wfd: int | None = None
        self._old_fd = -1
        self._old_handler: t.Any = None

    # -- the watcher's side -------------------------------------------------------------

    def open(self) -> bool:
        """Install the ``SIGUSR1`` wake-up (main thread only); True when requests can be
        served. Until then the holder must not advertise itself as serving."""
        if threading.current_thread() is not threading.main_thread():
            return False
        try:
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError:
            return False  # no inbox (read-only AO_HOME...): watch on, callers fall back
        rfd, wfd = os.pipe()
        os.set_blocking(rfd, False)
        os.set_blocking(wfd, False)
        self._rfd, self._wfd = rfd, wfd
        self._old_fd = signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
        # a Python-level handler makes the C handler write to the wake-up pipe
        self._old_handler = signal.signal(signal.SIGUSR1, lambda _s, _f: None)
        return True

    def close(self) -> None:
        """Undo ``open``. SIGUSR1 stays ignored: a caller that read the lock file just
        before may still signal this process, which must not kill it."""
        if self._rfd is None or self._wfd is None:
            return
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        signal.set_wakeup_fd(self._old_fd)
        os.close(self._rfd)
        os.close(self._wfd)
        self._rfd = self._wfd = None

    def pending(self) -> list[Request]:
        """Unanswered requests of living callers, oldest first; drops the others."""
        try:
            names = sorted(os.listdir(self.dir))
        except OSError:
            return []
        found: list[tuple[float, Request]] = []
        for name in names:
            if name.startswith(".") or not name.endswith(REQUEST):
                continue
            rid = name[: -len(REQUEST)]
            data = _read_json(self.dir / name) or {}
            pid, project, at = data.get("pid"), data.get("project"), data.get("at")
            answered = (self.dir / f"{rid}{ANSWER}").exists()
            if answered or not isinstance(pid, int) or not pid_alive(pid):
                (self.dir / name).unlink(missing_ok=True)  # answered, or its caller is gone
                continue
            request = Request(rid, project if isinstance(project, str) else None, pid)
            found.append((at if isinstance(at, float | int) else 0.0, request))
        return [r for _, r in sorted(found, key=lambda pair: pair[0])]

    def serve(
        self,
        requests: list[Request],
        scope: str | None,
        report: TickReport,
        run_pass: t.Callable[[str | None], TickReport],
        started: float,
    ) -> None:
        """Answer ``requests`` listed before ``report``'s tick began (``started``, epoch).

        A request for another scope than the watcher's gets a pass of its own, run now.
        """

        answers: dict[str | None, dict[str, t.Any]] = {}
        if requests:
            answers[scope] = {"data": report_data(report)}
        for request in requests:
            if request.project not in answers:
                began = time.time()
                try:
                    data = report_data(run_pass(request.project))
                    answers[request.project] = {"data": data, "started": began}
                except Exception as exc:  # a bad request must not end the watcher
                    code = exc.exit_code if isinstance(exc, AoError) else 1
                    hint = exc.hint if isinstance(exc, AoError) else None
                    answers[request.project] = {
                        "error": {"message": str(getattr(exc, "message", exc)), "hint": hint,
                                  "exit_code": code}
                    }  # fmt: skip
            self._answer(request, {"started": started, **answers[request.project]})
        self._sweep()

    def _answer(self, request: Request, body: dict[str, t.Any]) -> None:
        if not (self.dir / f"{request.id}{REQUEST}").exists():
            return  # the caller gave up (timeout or ^C) meanwhile
        payload = {"id": request.id, "watcher_pid": os.getpid(), **body}
        with contextlib.suppress(OSError):  # a full disk: the caller times out and says so
            atomic_write(self.dir / f"{request.id}{ANSWER}", json.dumps(payload))
            (self.dir / f"{request.id}{REQUEST}").unlink(missing_ok=True)

    def _sweep(self) -> None:
        """Remove answers nobody fetched and temp files of writers that died."""
        now = time.time()
        with contextlib.suppress(OSError):
            for path in self.dir.iterdir():
                if path.name.endswith(REQUEST):
                    continue  # ``pending`` drops those of dead callers
                with contextlib.suppress(OSError):
                    if now - path.stat().st_mtime > STALE_AFTER:
                        path.unlink()

    def wait(self, seconds: float, stopping: t.Callable[[], bool]) -> None:
        """Sleep up to ``seconds``; return early on ``stopping()`` or a pending request."""
        deadline = time.monotonic() + seconds
        while not stopping() and not self.pending():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if self._rfd is None:
                time.sleep(min(left, 0.5))  # not serving (not the main thread)
                continue
            select.select([self._rfd], [], [], left)  # a signal (USR1, TERM) writes here
            with contextlib.suppress(BlockingIOError):
                while os.read(self._rfd, 512):
                    pass

    # -- the caller's side --------------------------------------------------------------

    def submit(self, project: str | None) -> Request:
        """Write a request (atomically: a watcher sees all of it or nothing)."""

        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        request = Request(f"{os.getpid()}-{secrets.token_hex(6)}", project, os.getpid())
        body = {"id": request.id, "project": project, "pid": request.pid, "at": time.time()}
        atomic_write(self.dir / f"{request.id}{REQUEST}", json.dumps(body))
        return request

    def answer(self, request: Request) -> dict[str, t.Any] | None:
        """The watcher's answer to ``request``, once written."""
        return _read_json(self.dir / f"{request.id}{ANSWER}")

    def withdraw(self, request: Request) -> None:
        """Remove the request and its answer: nobody will wait for either."""
        for suffix in (REQUEST, ANSWER):
            (self.dir / f"{request.id}{suffix}").unlink(missing_ok=True)


def run_once(watcher: Watcher, timeout: float, poll: float = 0.1) -> Outcome:
    """One pass now: run it under the watch lock, or have the lock's holder run it.

    While another process holds the lock, a request is left for it and, if it serves
    requests, it is woken; its answer is the report of a tick that started after the
    request. If the holder lets the lock go first (it exited, died, or was a one-off
    pass), the pass runs here. ``timeout`` bounds the wait (0: skip at once). AoError
    from a pass is raised, a watcher's too (with its message and exit code).
    """

    if watcher.acquire():
        return _run_here(watcher)
    lock = lock_path(watcher.config_path)
    pid, _ = holder(lock)
    if timeout <= 0:
        return Outcome("skipped", watcher_pid=pid, detail="another watch pass is running")
    inbox = Inbox(lock)
    request = inbox.submit(watcher.project)
    woken: set[int] = set()
    deadline = time.monotonic() + timeout
    try:
        while True:
            answer = inbox.answer(request)
            if answer is None and watcher.acquire():  # the holder is gone: do it here
                answer = inbox.answer(request)  # unless it answered just before leaving
                if answer is None:
                    inbox.withdraw(request)
                    return _run_here(watcher)
                watcher.release()
            if answer is not None:
                return _answered(answer)
            pid, serves = holder(lock)
            if serves and pid is not None and pid not in woken:
                woken.add(pid)
                with contextlib.suppress(OSError):  # it just exited: the lock frees soon
                    os.kill(pid, signal.SIGUSR1)
            if watcher.stopping:
                return Outcome("interrupted", watcher_pid=pid, detail="interrupted")
            if time.monotonic() >= deadline:
                who = "the running watcher" if serves else "another watch pass"
                who += f" (pid {pid})" if pid is not None else ""
                detail = f"{who} did not run the pass within {timeout:g}s"
                return Outcome("timeout", watcher_pid=pid, detail=detail)
            time.sleep(poll)
    finally:
        inbox.withdraw(request)


def _run_here(watcher: Watcher) -> Outcome:
    try:
        return Outcome("ran", "self", report_data(watcher.pass_once()))
    finally:
        watcher.release()


def _answered(answer: dict[str, t.Any]) -> Outcome:
    pid = answer.get("watcher_pid")
    pid = pid if isinstance(pid, int) else None
    error = answer.get("error")
    if isinstance(error, dict):
        exc = AoError(
            f"the running watcher (pid {pid}) could not run the pass: {error.get('message')}",
            hint=error.get("hint"),
        )
        code = error.get("exit_code")
        exc.exit_code = code if isinstance(code, int) else 1
        raise exc
    data = answer.get("data")
    return Outcome("ran", "watcher", data if isinstance(data, dict) else {}, pid)
