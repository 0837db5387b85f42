"""`ao watch --once` while a watcher runs: the watcher runs the pass, or the caller does.

Real watcher processes (`ao watch --interval 300`) on the test's own tmux server and
`AO_HOME`; a slow SCM plugin (loaded through a real entry point) makes a tick last long
enough to send a request in the middle of one.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import typing as t
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sessionkit import Project, wait_for

pytestmark = pytest.mark.tmux

REPORT_KEYS = {"sessions", "seconds", "cpu_seconds", "transitions", "actions",
               "notifications", "errors"}  # fmt: skip
SLOW_SCM = '''
import json, os, time

from ao.sdk.contracts import API_VERSION


class SlowScm:
    """pr_states takes $AO_SLOW_SCM_SECONDS and logs when it starts and ends, and who called."""

    api_version = API_VERSION

    def __init__(self, options=None):
        self.log = os.environ["AO_SLOW_SCM_LOG"]

    def _note(self, what):
        with open(self.log, "a") as fh:
            fh.write(json.dumps({"what": what, "at": time.time(), "pid": os.getpid()}) + "\\n")

    def pr_states(self, repo, branches):
        self._note("start")
        time.sleep(float(os.environ["AO_SLOW_SCM_SECONDS"]))
        self._note("end")
        return {}

    def merge(self, repo, pr, strategy):
        raise NotImplementedError
'''


def lock_file(proj: Project) -> Path:
    from ao.store.paths import watch_lock_path as lock_path

    return lock_path(proj.repo.parent / "agent-orchestrator.yaml")


def inbox(proj: Project) -> Path:
    from ao.lifecycle.passes import inbox_dir

    return inbox_dir(lock_file(proj))


def leftovers(proj: Project) -> list[str]:
    return sorted(os.listdir(inbox(proj))) if inbox(proj).exists() else []


def once(proj: Project, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, object]]:
    r = proj.ao("watch", "--once", "--json", *args)
    doc = json.loads(r.stdout)  # always one versioned document, whatever happened
    assert doc["v"] == 1, r.stdout
    assert isinstance(doc["data"], dict)
    return r, doc["data"]


@pytest.fixture
def watcher(proj: Project) -> Iterator[subprocess.Popen[str]]:
    """`ao watch` with a long interval, serving requests (it says so in its lock file)."""
    from ao.lifecycle.passes import holder

    p = proj.popen("watch", "--interval", "300")
    wait_for(lambda: holder(lock_file(proj)) == (p.pid, True), what="the watcher to serve")
    yield p
    if p.poll() is None:
        p.kill()
    p.communicate(timeout=10)


@pytest.fixture
def slow_scm(proj: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every tick spends 3 s in the SCM; returns the log of its calls."""
    plugin = tmp_path / "slowscm"
    (plugin / "ao_slow_scm-0.1.dist-info").mkdir(parents=True)
    (plugin / "ao_slow_scm.py").write_text(SLOW_SCM)
    (plugin / "ao_slow_scm-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: ao-slow-scm\nVersion: 0.1\n"
    )
    (plugin / "ao_slow_scm-0.1.dist-info" / "entry_points.txt").write_text(
        "[ao.scm]\nslow = ao_slow_scm:SlowScm\n"
    )
    log = tmp_path / "scm.log"
    monkeypatch.setenv("PYTHONPATH", str(plugin))
    monkeypatch.setenv("AO_SLOW_SCM_LOG", str(log))
    monkeypatch.setenv("AO_SLOW_SCM_SECONDS", "3")
    proj.configure(scm="slow", repo="acme/demo")
    assert proj.ao("new", "true").returncode == 0  # a session with a branch: PRs are asked
    return log


def scm_calls(log: Path) -> list[dict[str, t.Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def in_a_tick(log: Path, pid: int) -> bool:
    calls = [c for c in scm_calls(log) if c["pid"] == pid]
    return bool(calls) and calls[-1]["what"] == "start"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_once_is_run_by_the_running_watcher(proj: Project, watcher: subprocess.Popen[str]) -> None:
    assert proj.ao("new", "true").returncode == 0
    started = time.monotonic()
    r, data = once(proj)
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - started < 10  # not the 300 s interval
    # the v1 contract: the tick report, plus who ran it
    assert set(data) == REPORT_KEYS | {"status", "ran_by", "watcher_pid"}
    assert data["status"] == "ran" and data["ran_by"] == "watcher"
    assert data["watcher_pid"] == watcher.pid
    assert data["sessions"] == 1
    # another scope than the watcher's own gets a pass of that scope
    r, data = once(proj, "--project", "demo")
    assert (data["ran_by"], data["sessions"]) == ("watcher", 1), r.stderr
    r = proj.ao("watch", "--once")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == f"ran a pass in the running watcher (pid {watcher.pid})"
    # a pass that fails in the watcher is the caller's error, and the watcher goes on
    r = proj.ao("watch", "--once", "--project", "nope")
    assert r.returncode == 4, r.stderr
    assert f"the running watcher (pid {watcher.pid}) could not run the pass" in r.stderr
    assert "nope" in r.stderr
    assert leftovers(proj) == []  # every request and answer was cleaned up
    # idle between ticks, the watcher sleeps: no polling
    before = cpu_seconds(watcher.pid)
    time.sleep(2)
    assert cpu_seconds(watcher.pid) - before < 0.05
    # SIGUSR1 did not hurt it, and SIGTERM still ends its (300 s) sleep at once
    assert watcher.poll() is None
    watcher.send_signal(signal.SIGTERM)
    assert watcher.wait(timeout=5) == 0


def test_a_tick_already_under_way_does_not_answer(
    proj: Project, slow_scm: Path, watcher: subprocess.Popen[str]
) -> None:
    """A request sent mid-tick is answered by the next tick, whose facts postdate it."""
    wait_for(lambda: in_a_tick(slow_scm, watcher.pid), what="the watcher's first tick")
    asked = time.time()
    p = subprocess.Popen(
        [sys.executable, "-m", "ao", "watch", "--once", "--json", "--timeout", "60"],
        cwd=proj.repo.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    wait_for(lambda: leftovers(proj), what="the request")
    assert in_a_tick(slow_scm, watcher.pid), "the request came after the first tick"
    stdout, stderr = p.communicate(timeout=60)
    answered = time.time()
    assert p.returncode == 0, stderr
    data = json.loads(stdout)["data"]
    assert (data["status"], data["ran_by"], data["watcher_pid"]) == ("ran", "watcher", watcher.pid)
    calls = scm_calls(slow_scm)
    assert [(c["what"], c["pid"]) for c in calls] == [
        ("start", watcher.pid),
        ("end", watcher.pid),
    ] * 2
    assert calls[2]["at"] > asked  # the answering tick started after the request...
    assert answered > calls[3]["at"]  # ...and the caller had its report only once it ended


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_a_watcher_that_leaves_without_answering_lets_the_caller_run_the_pass(
    proj: Project, slow_scm: Path, watcher: subprocess.Popen[str], how: signal.Signals
) -> None:
    wait_for(lambda: in_a_tick(slow_scm, watcher.pid), what="the watcher's first tick")
    p = subprocess.Popen(
        [sys.executable, "-m", "ao", "watch", "--once", "--json", "--timeout", "60"],
        cwd=proj.repo.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    wait_for(lambda: leftovers(proj), what="the request")
    watcher.send_signal(how)
    stdout, stderr = p.communicate(timeout=60)
    assert p.returncode == 0, stderr
    data = json.loads(stdout)["data"]
    assert (data["status"], data["ran_by"], data["watcher_pid"]) == ("ran", "self", None)
    assert data["sessions"] == 1
    calls = scm_calls(slow_scm)
    assert calls[-2:] == [
        {"what": "start", "pid": p.pid, "at": calls[-2]["at"]},
        {"what": "end", "pid": p.pid, "at": calls[-1]["at"]},
    ]
    if how == signal.SIGTERM:  # the watcher finished its tick, then left cleanly
        assert watcher.wait(timeout=10) == 0
        assert [(c["what"], c["pid"]) for c in calls[:2]] == [
            ("start", watcher.pid), ("end", watcher.pid)
        ]  # fmt: skip
    assert leftovers(proj) == []


def test_json_when_the_holder_does_not_answer(proj: Project) -> None:
    """A lock held by something that serves no requests (an older `ao watch`, a one-off
    pass): it is never signalled; skip, time out or run once it lets go — with JSON."""
    bystander = subprocess.Popen(["sleep", "60"])  # the pid the lock file names
    lock = lock_file(proj)
    lock.parent.mkdir(parents=True, exist_ok=True)
    try:
        with lock.open("w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.write(f"{bystander.pid}\n")
            fh.flush()
            r, data = once(proj, "--timeout", "0")
            assert r.returncode == 0
            assert data == {"status": "skipped", "ran_by": None, "watcher_pid": bystander.pid,
                            "detail": "another watch pass is running"}  # fmt: skip
            r = proj.ao("watch", "--once", "--timeout", "0")
            assert r.returncode == 0 and "skipping" in r.stderr and r.stdout == ""
            r, data = once(proj, "--timeout", "1")
            assert r.returncode == 5
            assert (data["status"], data["ran_by"]) == ("timeout", None)
            assert f"another watch pass (pid {bystander.pid}) did not run the pass" in r.stderr
            p = proj.popen("watch", "--once", "--json", "--timeout", "60")
            wait_for(lambda: leftovers(proj), what="the request")
        stdout, stderr = p.communicate(timeout=60)  # the lock is free: it ran the pass itself
        assert p.returncode == 0, stderr
        data = json.loads(stdout)["data"]
        assert (data["status"], data["ran_by"], data["watcher_pid"]) == ("ran", "self", None)
        assert bystander.poll() is None  # never signalled: SIGUSR1 would have killed it
        assert leftovers(proj) == []
    finally:
        bystander.kill()
        bystander.wait()
