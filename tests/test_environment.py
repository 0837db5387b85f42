"""An agent gets the environment of the process that runs ``ao``, not the tmux server's.

The scenario from the user's report: a tmux server is already running (started at login,
from an environment without the provider key); the key is exported only in the shell
that runs ``ao new``. The agent must see it, and nothing of the caller's terminal. The
values travel through a private file the pane's launcher deletes: never through a command
line or the tmux session's environment, and nothing stays on disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ao.config import load_config
from ao.sdk.errors import ConflictError
from ao.session.context import Context
from ao.session.environment import agent_environment, caller_environment
from ao.session.spawn import spawn
from ao.session.stop_restore import restore
from ao.store.record import Status
from tests.fakes.fakeruntime import FakeRuntime
from tests.sessionkit import Project, wait_for

SECRET = "sk-test-6f1c0e-only-in-the-callers-shell"
# the agent: write its whole environment as JSON, then stay alive
DUMP = "import json, os, sys, time; json.dump(dict(os.environ), open(sys.argv[1], 'w')); print('> ', flush=True); time.sleep(600)"


def test_caller_environment_drops_the_terminal_and_the_parent_session() -> None:
    env = caller_environment({
        "MY_KEY": "k", "PATH": "/x:/usr/bin", "HTTPS_PROXY": "http://p", "TERM": "xterm-kitty",
        "TERM_PROGRAM": "iTerm.app", "TMUX": "/tmp/t,1,0", "TMUX_PANE": "%3", "WINDOWID": "9",
        "KITTY_WINDOW_ID": "2", "PWD": "/home/u", "AO_SESSION_ID": "parent-1", "AO_HOME": "/h",
    })  # fmt: skip
    assert env == {"MY_KEY": "k", "PATH": "/x:/usr/bin", "HTTPS_PROXY": "http://p", "AO_HOME": "/h"}
    layered = agent_environment(
        {"A": "project", "B": "project"}, {"B": "agent"}, environ={"A": "c"}
    )
    assert layered == {"A": "project", "B": "agent"}


def start_login_server(socket: str, tmp_path: Path) -> None:
    """The user's own tmux server, started first from a minimal login environment."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    if os.environ.get("TMUX_TMPDIR"):
        env["TMUX_TMPDIR"] = os.environ["TMUX_TMPDIR"]
    subprocess.run(
        ["tmux", "-L", socket, "new-session", "-d", "-s", "login", "sleep", "600"],
        env=env, check=True, timeout=10,
    )  # fmt: skip


def agent_env(dump: Path) -> dict[str, str]:
    wait_for(lambda: dump.exists() and dump.stat().st_size > 0, 15, "the agent's environment")
    wait_for(lambda: dump.read_text().endswith("}"), 5, "a whole dump")
    return t_cast(json.loads(dump.read_text()))


def t_cast(value: object) -> dict[str, str]:
    assert isinstance(value, dict)
    return {str(k): str(v) for k, v in value.items()}


@pytest.mark.tmux
def test_agent_gets_the_callers_environment_not_the_servers(proj: Project, tmp_path: Path) -> None:
    assert proj.server.socket_name is not None
    start_login_server(proj.server.socket_name, tmp_path)
    dump = tmp_path / "agent-env.json"
    extra_bin = tmp_path / "my-bin"
    extra_bin.mkdir()
    proj.configure(
        agent_command=[sys.executable, "-c", DUMP, str(dump)],
        env={"FROM_PROJECT": "${MY_KEY}-p", "SHARED": "project", "OVERRIDDEN": "project"},
    )
    config = proj.repo.parent / "agent-orchestrator.yaml"
    text = config.read_text().replace(
        "agents:\n  shell:\n", "agents:\n  shell:\n    env:\n      OVERRIDDEN: agent\n"
    )
    config.write_text(text)
    caller = {
        "MY_KEY": SECRET, "HTTPS_PROXY": "http://proxy.example:3128", "SHARED": "caller",
        "PATH": f"{extra_bin}{os.pathsep}{os.environ['PATH']}",
        # the caller is itself in a terminal, inside another tmux, inside an agent session
        "TERM": "xterm-kitty", "TERM_PROGRAM": "iTerm.app", "TMUX": "/tmp/other,1,0",
        "TMUX_PANE": "%99", "AO_SESSION_ID": "parent-7",
    }  # fmt: skip
    r = proj.ao("new", "dump the environment", env=caller)
    assert r.returncode == 0, r.stderr

    env = agent_env(dump)
    assert env["MY_KEY"] == SECRET  # the tmux server never had it
    assert env["HTTPS_PROXY"] == "http://proxy.example:3128"
    assert env["PATH"].split(os.pathsep)[0] == str(extra_bin)
    assert env["FROM_PROJECT"] == f"{SECRET}-p"  # ${NAME} in the project's env
    assert env["SHARED"] == "project" and env["OVERRIDDEN"] == "agent"
    assert env["AO_SESSION_ID"] == "d-1" and env["AO_CALLER_TYPE"] == "agent"
    assert "TERM_PROGRAM" not in env
    assert env["TMUX_PANE"] != "%99" and proj.server.socket_name in env["TMUX"]
    assert env["TERM"] != "xterm-kitty"  # the pane's own terminal type

    # the values went neither into tmux's own session environment nor onto disk
    name = next(n for n in proj.tmux_names() if n.endswith("d-1"))
    shown = proj.server.cmd("show-environment", "-t", f"={name}").stdout
    assert not any(SECRET in line for line in shown)
    ao_home = Path(os.environ["AO_HOME"])
    leaked = [p for p in ao_home.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert leaked == []
    for directory in (Path("/dev/shm"), Path(os.environ.get("XDG_RUNTIME_DIR") or "/nonexistent")):
        for path in directory.glob("ao-*/env-*.json") if directory.is_dir() else []:
            # (a file may vanish meanwhile: another test's session, already read)
            with contextlib.suppress(FileNotFoundError):
                assert SECRET not in path.read_text(), path


@pytest.mark.tmux
def test_restore_starts_the_agent_with_the_restoring_callers_environment(
    proj: Project, tmp_path: Path
) -> None:
    dump = tmp_path / "agent-env.json"
    proj.configure(agent_command=[sys.executable, "-c", DUMP, str(dump)])
    assert proj.ao("new", "dump", env={"MY_KEY": "old-key"}).returncode == 0
    assert agent_env(dump)["MY_KEY"] == "old-key"
    name = next(n for n in proj.tmux_names() if n.endswith("d-1"))
    pid = proj.server.cmd("display-message", "-p", "-t", f"={name}:", "#{pane_pid}").stdout[0]
    dump.unlink()
    os.kill(int(pid), signal.SIGTERM)
    wait_for(lambda: proj.ao_json("status", "d-1")["activity"] == "exited", 15, "exited")  # type: ignore[index]

    r = proj.ao("restore", "d-1", env={"MY_KEY": "fixed-key"})
    assert r.returncode == 0, r.stderr
    assert agent_env(dump)["MY_KEY"] == "fixed-key"


def fake_context(git_repo: Path, fake: FakeRuntime) -> Context:
    config = {
        "defaults": {"agent": "shell", "runtime": "fake"},
        "projects": {"demo": {"path": str(git_repo), "sessionPrefix": "d"}},
    }
    path = git_repo.parent / "agent-orchestrator.yaml"
    path.write_text(yaml.safe_dump(config))
    return Context(load_config(path), plugins={("runtime", "fake"): fake})


def test_restore_restarts_a_blocked_agent_with_the_fixed_environment(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live agent blocked on a missing key: fix the key in the shell, `ao restore`."""
    fake = FakeRuntime()
    ctx = fake_context(git_repo, fake)
    project = ctx.project("demo")
    monkeypatch.delenv("MY_KEY", raising=False)
    sid = spawn(ctx, project, "use the provider", ready_timeout=5).session_id
    first = fake.pane(sid)
    assert "MY_KEY" not in first.spec.env

    with pytest.raises(ConflictError, match="still running"):  # a working agent: use send
        restore(ctx, project, sid)
    project.store.update(sid, status=Status.BLOCKED)  # the watcher saw the auth error
    monkeypatch.setenv("MY_KEY", "fixed")
    restore(ctx, project, sid)
    second = fake.pane(sid)
    assert second is not first and first.name in fake.destroyed
    assert second.spec.env["MY_KEY"] == "fixed"
    assert project.store.read(sid).status == "working"
