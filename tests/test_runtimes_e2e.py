"""The session life cycle, end to end through the real ``ao`` CLI, on every runtime.

The same tests for ``tmux``, ``process``, ``docker`` (a real Docker engine and a
locally imported image, tests/dockerkit.py), ``ssh`` (two real OpenSSH servers on
loopback, tests/sshkit.py) and ``ssh-copy`` (the same hosts with a ``workdir``: each
session works on its own copy there, never on the worktree): spawn and a 10 KB message delivered
byte-exact, a question detected and answered, stop keeping uncommitted work, restore
after the agent exits, and ``ao gc`` after ``ao new`` is killed with SIGKILL right after
the runtime started the session. Agents are the receiver fixture (a TUI with bracketed
paste) and ``sh``; real git throughout.
"""

from __future__ import annotations

import os
import subprocess
import sys
import typing as t
from collections.abc import Iterator
from pathlib import Path

import libtmux
import pytest

from ao import registry
from ao.sdk.contracts import Runtime
from tests import dockerkit, sshkit
from tests.conftest import RunAo
from tests.sessionkit import Project, wait_for

RUNTIMES = ["tmux", "process", "docker", "ssh", "ssh-copy"]


class RuntimeProject(Project):
    """A configured repo whose sessions run on one runtime."""

    def __init__(self, repo: Path, server: libtmux.Server, ao: RunAo, runtime: str) -> None:
        super().__init__(repo, server, ao)
        self.runtime_name = runtime.partition("-")[0]
        self.plugins: dict[str, object] = {}
        self.hosts: list[sshkit.SshHost] = []
        self.workdir: Path | None = None  # where ssh-copy's hosts keep the copies
        if self.runtime_name == "ssh":
            self.hosts = sshkit.start_hosts(repo.parent / "hosts", 2)
            hosts = {f"h{i + 1}": h.options() for i, h in enumerate(self.hosts)}
            if runtime == "ssh-copy":
                self.workdir = repo.parent / "hosts" / "work"
                for i, options in enumerate(hosts.values()):
                    options["workdir"] = str(self.workdir / f"h{i + 1}")
            self.plugins = {"ssh": {"hosts": hosts}}
        if runtime == "docker":
            dockerkit.require_engine()
            self.plugins = {
                "docker": {
                    "image": dockerkit.build_image(),
                    "network": "none",
                    "mounts": dockerkit.host_mounts(repo.parent),
                }
            }

    def configure(self, **project: object) -> None:
        top = {**t.cast(dict[str, object], project.pop("top", {})), "plugins": self.plugins}
        super().configure(runtime=self.runtime_name, top=top, **project)

    def runtime(self) -> Runtime:
        options = t.cast(dict[str, object], self.plugins.get(self.runtime_name, {}))
        return registry.load("runtime", self.runtime_name, options)

    def names(self) -> list[str]:
        return self.runtime().list_names(owner=str(Path(os.environ["AO_HOME"]).resolve()))

    def session(self) -> dict[str, t.Any]:
        (session,) = t.cast(list[dict[str, t.Any]], self.ao_json("list"))
        return session


@pytest.fixture(params=RUNTIMES)
def rproj(
    request: pytest.FixtureRequest,
    git_repo: Path,
    server: libtmux.Server,
    ao: RunAo,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[RuntimeProject]:
    monkeypatch.setenv("AO_TMUX_SOCKET", server.socket_name)
    p = RuntimeProject(git_repo, server, ao, request.param)
    p.configure()
    yield p
    runtime = p.runtime()
    for name in p.names():
        runtime.destroy(runtime.handle(name), grace=0.2)
    if request.param == "process":
        t.cast(t.Any, runtime).shutdown()
    elif request.param in ("docker", "ssh", "ssh-copy"):
        runtime.end_sandbox(server.socket_name)
    sshkit.stop_hosts(p.hosts)


def worktree(p: RuntimeProject) -> Path:
    return Path(t.cast(str, t.cast(dict[str, t.Any], p.ao_json("status", "d-1"))["worktree"]))


def working_tree(p: RuntimeProject) -> Path:
    """Where the agent works: the worktree, or with ssh-copy its copy on the host."""
    if p.workdir is None:
        return worktree(p)
    (copy,) = [d for d in p.workdir.glob("h*/*") if not d.name.endswith(".state")]
    return copy


def test_spawn_and_a_10kb_message_delivered_byte_exact(rproj: RuntimeProject) -> None:
    rproj.use_receiver()
    r = rproj.ao("new", "first task")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: rproj.received() == ["first task"], timeout=30, what="the first prompt")
    assert rproj.session()["runtime"] == rproj.runtime_name
    assert len(rproj.names()) == 1
    line = "quote \" ' `x` $(touch pwned) \t tab; é ü 日本 🚀 \\ back\n"
    message = line * 180
    assert len(message.encode()) >= 10_000
    r = rproj.ao("send", "d-1", "-", input=message)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("delivered"), r.stdout
    assert rproj.received()[-1] == message
    assert not list(rproj.repo.parent.rglob("pwned"))
    r = rproj.ao("stop", "d-1")
    assert r.returncode == 0, r.stderr
    assert rproj.names() == []


def test_a_question_is_needs_input_and_the_answer_reaches_the_agent(
    rproj: RuntimeProject,
) -> None:
    script = 'printf "Proceed? [y/n] "; read a; echo "answer=$a" > answer.txt; echo done; exec sh'
    rproj.configure(
        agent_command=["sh", "-c", script], shell_options={"questionPattern": r"\[y/n\]\s*$"}
    )
    assert rproj.ao("new", "").returncode == 0
    wait_for(lambda: rproj.session()["activity"] == "needs_input", timeout=30, what="question")
    r = rproj.ao("send", "d-1", "y")
    assert r.returncode == 0, r.stderr
    answer = working_tree(rproj) / "answer.txt"
    wait_for(answer.exists, timeout=20, what="the answer file")
    assert answer.read_text() == "answer=y\n"


def test_stop_keeps_uncommitted_work_and_ends_the_process(rproj: RuntimeProject) -> None:
    rproj.configure(agent_command=["sh"])
    assert rproj.ao("new", "echo precious > notes.txt").returncode == 0
    tree = worktree(rproj)
    wait_for((working_tree(rproj) / "notes.txt").exists, timeout=30, what="the agent's file")
    r = rproj.ao("stop", "d-1")
    assert r.returncode == 0, r.stderr
    assert (tree / "notes.txt").read_text() == "precious\n"  # ssh-copy: brought back
    assert "kept" in (r.stdout + r.stderr).lower()
    assert rproj.names() == []


def test_restore_after_the_agent_exits(rproj: RuntimeProject) -> None:
    rproj.configure(agent_command=["sh"])
    assert rproj.ao("new", "").returncode == 0
    wait_for(lambda: rproj.session()["activity"] == "ready", timeout=30, what="ready")
    assert rproj.ao("send", "d-1", "exit 5").returncode == 0
    wait_for(lambda: rproj.session()["status"] == "exited", timeout=30, what="exited")
    r = rproj.ao("restore", "d-1")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: rproj.session()["activity"] == "ready", timeout=30, what="ready again")
    assert rproj.ao("send", "d-1", "echo back > restored.txt").returncode == 0
    restored = working_tree(rproj) / "restored.txt"
    wait_for(restored.exists, timeout=20, what="the restored agent's file")
    assert len(rproj.names()) == 1


@pytest.mark.parametrize("rproj", ["tmux", "process", "docker"], indirect=True)
def test_host_is_refused_where_the_runtime_has_no_hosts(rproj: RuntimeProject) -> None:
    """(--host on the ssh runtime: tests/test_runtime_ssh.py)"""
    rproj.configure(agent_command=["sh"])
    r = rproj.ao("new", "echo hi", "--host", "big1")
    assert r.returncode == 2 and f"no host 'big1' for the {rproj.runtime_name} runtime" in r.stderr
    assert "only a runtime with hosts" in r.stderr
    assert rproj.ao_json("list") == [] and rproj.names() == []  # nothing was made


def test_gc_ends_the_session_of_a_spawn_killed_after_the_runtime_started_it(
    rproj: RuntimeProject,
) -> None:
    rproj.configure(agent_command=["sh"])
    r = subprocess.run(
        [sys.executable, "-m", "ao", "new", "echo hi"], cwd=rproj.repo.parent,
        env={**os.environ, "AO_FAULT": "spawn.runtime-created"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == -9, r.stderr
    assert len(rproj.names()) == 1
    r = rproj.ao("gc")
    assert r.returncode == 0, r.stderr
    assert rproj.names() == []
    if rproj.workdir is not None:  # its copy was brought back, then removed
        assert list(rproj.workdir.glob("h*/*")) == []
    if rproj.runtime_name == "docker":
        ps = subprocess.run(
            ["docker", "ps", "-a", "-q", "--filter", f"label=ao.owner={Path(os.environ['AO_HOME']).resolve()}"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert ps.stdout.strip() == ""
