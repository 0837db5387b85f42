"""The ``process`` runtime: agents in PTYs held by a supervisor, no tmux.

Real processes throughout: the plugin against its supervisor, and the real ``ao`` CLI
with ``runtime: process`` and the receiver fixture (a fake TUI with bracketed paste) as
the shell agent's command. Every test ends its supervisor (and checks it is gone).
"""

from __future__ import annotations

import json
import os
import select
import signal
import stat
import sys
import time
import typing as t
from collections.abc import Iterator
from pathlib import Path

import pytest
from ao_plugins.runtime_process import ProcessRuntime, connect
from ao_plugins.runtime_process.terminal import key_bytes, session_members

from ao import registry
from ao.sdk import conformance
from ao.sdk.contracts import RuntimeSpec
from ao.sdk.errors import ConflictError, NotFoundError
from ao.sdk.proc import pid_alive
from tests.conftest import RunAo
from tests.sessionkit import Project, wait_for


def stats(runtime: ProcessRuntime) -> dict[str, t.Any]:
    return t.cast(dict[str, t.Any], runtime.call("stats", start=False))


def gone(pid: int) -> bool:
    """The process has ended (a zombie counts: it is no longer running)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return not pid_alive(pid)
    return state in ("Z", "X")


@pytest.fixture
def runtime() -> Iterator[ProcessRuntime]:
    """The runtime on this test's own ``$AO_HOME``; its supervisor is ended afterwards."""
    rt = ProcessRuntime()
    yield rt
    end_supervisor(rt)


def end_supervisor(rt: ProcessRuntime) -> None:
    info = rt.call("stats", start=False) if connect(rt.socket) else None
    rt.shutdown()
    if info:
        wait_for(lambda: gone(info["pid"]), timeout=15, what="the supervisor to exit")
    assert not rt.socket.exists()


def spec(name: str, argv: list[str], cwd: Path, **kw: t.Any) -> RuntimeSpec:
    env = {"PATH": os.environ["PATH"], **kw.pop("env", {})}
    size = {"width": 80, "height": 24, **kw}
    return RuntimeSpec(name=name, argv=argv, cwd=cwd, env=env, **size)


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


# ----------------------------------------------------------------------------- the plugin


def test_registered_and_conformant() -> None:
    assert "process" in registry.available("runtime")
    cls = registry.load_class("runtime", "process")
    assert cls is ProcessRuntime
    assert conformance.problems("runtime", ProcessRuntime()) == []


def test_key_names_map_to_terminal_bytes() -> None:
    assert key_bytes("Enter") == b"\r"
    assert key_bytes("Escape") == b"\x1b"
    assert key_bytes("C-c") == b"\x03"
    assert key_bytes("C-l") == b"\x0c"
    assert key_bytes("C-[") == b"\x1b"
    assert key_bytes("BSpace") == b"\x7f"
    assert key_bytes("Tab") == b"\t"
    assert key_bytes("BTab") == b"\x1b[Z"
    assert key_bytes("Down") == b"\x1b[B"
    assert key_bytes("Down", cursor_keys=True) == b"\x1bOB"
    assert key_bytes("M-x") == b"\x1bx"
    assert key_bytes("y") == b"y"
    assert key_bytes("é") == "é".encode()


def test_supervisor_starts_on_demand_with_private_socket(
    runtime: ProcessRuntime, tmp_path: Path
) -> None:
    assert runtime.probe() == {} and runtime.list_names() == []  # never starts one
    assert not runtime.socket.exists()
    runtime.create(spec("s1", sh("sleep 30"), tmp_path))
    mode = runtime.socket.stat().st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
    assert stat.S_IMODE(runtime.socket.parent.stat().st_mode) == 0o700
    log = runtime.socket.with_name(runtime.socket.name + ".log")
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    with pytest.raises(ConflictError):
        runtime.create(spec("s1", sh("sleep 30"), tmp_path))


def test_exact_environment_exit_status_and_screen_kept(
    runtime: ProcessRuntime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEAKED_FROM_AO", "no")
    secret = "s3cr3t-value-123"
    script = (
        "import os, shutil; print(sorted(os.environ)); print(os.environ['TOKEN']);"
        "print(shutil.get_terminal_size()); print(os.getcwd()); raise SystemExit(7)"
    )
    handle = runtime.create(
        spec(
            "e1",
            [sys.executable, "-c", script],
            tmp_path,
            env={"TOKEN": secret, "LC_ALL": "C.UTF-8"},
            owner="me",
        )
    )
    state = wait_for(lambda: (s := runtime.probe()["e1"]).running is False and s, what="exit")
    assert state.alive and state.exit_status == 7  # type: ignore[union-attr]
    screen = runtime.capture(handle)
    assert (
        "['LC_ALL', 'PATH', 'TERM', 'TOKEN']" in screen
    )  # exactly the spec's env (and the PTY's TERM)
    assert secret in screen and "columns=80, lines=24" in screen and str(tmp_path) in screen
    assert runtime.list_names(owner="me") == ["e1"] and runtime.list_names(owner="you") == []
    assert runtime.list_names() == ["e1"]
    info = stats(runtime)
    cmdline = Path(f"/proc/{info['pid']}/cmdline").read_bytes()
    assert secret.encode() not in cmdline  # the env never travels on a command line
    runtime.destroy(handle)
    assert runtime.list_names() == []
    with pytest.raises(NotFoundError):
        runtime.capture(handle)


def test_capture_renders_the_screen_not_the_bytes(runtime: ProcessRuntime, tmp_path: Path) -> None:
    script = "printf 'aaaa\\rbb\\n\\033[31mred\\033[0m\\nx\\033[2Ky\\n'; sleep 30"
    handle = runtime.create(spec("r1", sh(script), tmp_path))
    wait_for(lambda: "red" in runtime.capture(handle), what="output")
    assert runtime.capture(handle).splitlines() == ["bbaa", "red", " y"]
    assert runtime.capture(handle, lines=1) == " y"


def test_keys_paste_and_interrupt(runtime: ProcessRuntime, tmp_path: Path) -> None:
    from tests.sessionkit import RECEIVER

    inbox = tmp_path / "inbox.jsonl"
    handle = runtime.create(spec("k1", [sys.executable, str(RECEIVER), str(inbox)], tmp_path))
    wait_for(lambda: "READY>" in runtime.capture(handle), what="the prompt")
    runtime.send_keys(handle, "h", "i", "Enter")
    runtime.paste(handle, "line one\nline two \x1b[201~ é")
    runtime.send_keys(handle, "Enter")
    wait_for(lambda: inbox.exists() and len(inbox.read_text().splitlines()) == 2, what="input")
    got = [json.loads(line)["text"] for line in inbox.read_text().splitlines()]
    assert got == ["hi", "line one\nline two  é"]  # an escape is dropped: it cannot end the paste
    sleeper = runtime.create(spec("k2", sh("echo sleeping; exec sleep 30"), tmp_path))
    wait_for(lambda: runtime.probe()["k2"].current_command == "sleep", what="sleep running")
    runtime.send_keys(sleeper, "C-c")
    state = wait_for(lambda: not (s := runtime.probe()["k2"]).running and s, what="interrupt")
    assert state.exit_status == 128 + signal.SIGINT  # type: ignore[union-attr]
    with pytest.raises(NotFoundError):
        runtime.send_keys(sleeper, "Enter")  # it has exited: nothing takes input


def test_probe_and_capture_many_are_one_request_for_all_sessions(
    runtime: ProcessRuntime, tmp_path: Path
) -> None:
    handles = [runtime.create(spec(f"m{i}", sh(f"echo hello-{i}; sleep 30"), tmp_path))
               for i in range(6)]  # fmt: skip
    wait_for(lambda: all(f"hello-{i}" in runtime.capture(h) for i, h in enumerate(handles)))
    before = stats(runtime)["requests"]
    states = runtime.probe()
    screens = runtime.capture_many(handles)
    after = stats(runtime)["requests"]
    assert sorted(states) == [f"m{i}" for i in range(6)] and all(s.running for s in states.values())
    assert screens == {f"m{i}": f"hello-{i}" for i in range(6)}
    delta = {op: n - before.get(op, 0) for op, n in after.items() if n != before.get(op, 0)}
    assert delta == {"probe": 1, "capture_many": 1}


def test_destroy_ends_the_whole_process_group(runtime: ProcessRuntime, tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    # the child ignores TERM and HUP: destroy has to escalate to KILL after the grace
    script = f"trap '' TERM HUP; sleep 300 & echo $! > {pidfile}; wait"
    handle = runtime.create(spec("d1", sh(script), tmp_path))
    wait_for(pidfile.exists, what="the child")
    child = int(wait_for(lambda: pidfile.read_text().strip(), what="its pid"))  # type: ignore[arg-type]
    leader = runtime.probe()["d1"].pid
    assert leader
    started = time.monotonic()
    runtime.destroy(handle, grace=0.5)
    assert time.monotonic() - started < 8
    assert gone(child) and gone(leader) and session_members(leader) == []
    assert runtime.list_names() == []


def test_a_killed_supervisor_is_replaced_and_its_sessions_read_exited(
    runtime: ProcessRuntime, tmp_path: Path
) -> None:
    script = "trap '' HUP; echo started; sleep 300"  # survives the PTY's hangup
    handle = runtime.create(spec("k1", sh(script), tmp_path))
    wait_for(lambda: "started" in runtime.capture(handle), what="output")
    agent = runtime.probe()["k1"].pid
    assert agent
    old = stats(runtime)["pid"]
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: gone(old), what="the supervisor to die")
    started = time.monotonic()
    states = runtime.probe()  # finds the dead one's sessions and starts a new supervisor
    assert time.monotonic() - started < 10
    assert stats(runtime)["pid"] != old
    assert states["k1"].alive and not states["k1"].running
    wait_for(lambda: gone(agent), what="the orphaned agent to be ended")
    assert "supervisor was killed" in runtime.capture(handle)
    runtime.destroy(handle)
    assert runtime.list_names() == []


def test_attach_relays_the_pty(runtime: ProcessRuntime, tmp_path: Path) -> None:
    import pty

    from tests.sessionkit import RECEIVER

    inbox = tmp_path / "inbox.jsonl"
    receiver = [sys.executable, str(RECEIVER), str(inbox)]
    # larger than the attaching terminal (80x24): the prompt must survive the shrink
    handle = runtime.create(spec("a1", receiver, tmp_path, width=200, height=50))
    wait_for(lambda: "READY>" in runtime.capture(handle), what="the prompt")
    argv = runtime.attach_argv(handle)
    pid, fd = pty.fork()
    if pid == 0:  # the user's terminal
        os.execv(argv[0], argv)
    seen = b""

    def read_until(text: bytes) -> bool:
        nonlocal seen
        deadline = time.monotonic() + 15
        while text not in seen:
            ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0))
            assert ready, f"timed out waiting for {text!r} in {seen[-300:]!r}"
            seen += os.read(fd, 65536)
        return True

    read_until(b"READY>")  # the current screen comes first
    os.write(fd, b"typed\r")
    wait_for(lambda: inbox.exists() and "typed" in inbox.read_text(), what="typed input")
    read_until(b"got 5 chars")
    os.write(fd, b"\x1d")  # Ctrl-] detaches
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    assert runtime.probe()["a1"].running  # detaching leaves the agent running


# ----------------------------------------------------------------------------- end to end


@pytest.fixture
def pproj(git_repo: Path, ao: RunAo) -> Iterator[Project]:
    """A configured repo whose sessions run on the process runtime."""
    p = Project(git_repo, t.cast(t.Any, None), ao)
    p.use_receiver(runtime="process")
    yield p
    end_supervisor(ProcessRuntime())


def test_end_to_end_with_the_ao_cli(pproj: Project) -> None:
    r = pproj.ao("new", "first task")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: pproj.received() == ["first task"], what="the first prompt")
    (session,) = pproj.ao_json("list")  # type: ignore[misc]
    assert session["runtime"] == "process"
    line = "quote \" ' `x` $(touch pwned) \t tab; é ü 日本 🚀 \\ back\n"
    message = line * 180
    assert len(message.encode()) >= 10_000
    r = pproj.ao("send", "d-1", "-", input=message)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("delivered"), r.stdout
    assert pproj.received()[-1] == message
    assert not list(pproj.repo.parent.rglob("pwned"))
    wait_for(lambda: pproj.ao_json("status", "d-1")["activity"] == "ready", what="ready")  # type: ignore[index]
    logs = pproj.ao("logs", "d-1").stdout
    assert f"got {len(message)} chars" in logs and logs.rstrip().endswith("READY>")
    pid = ProcessRuntime().probe()[ProcessRuntime().list_names()[0]].pid
    assert pid
    r = pproj.ao("stop", "d-1")
    assert r.returncode == 0, r.stderr
    assert ProcessRuntime().list_names() == []
    assert gone(pid)


def test_end_to_end_working_then_exited_with_screen_kept(pproj: Project) -> None:
    pproj.configure(agent_command=["sh"], runtime="process")
    assert pproj.ao("new", "").returncode == 0
    wait_for(lambda: pproj.ao_json("status", "d-1")["activity"] == "ready", what="ready")  # type: ignore[index]
    assert pproj.ao("send", "d-1", "sleep 2; echo bye-now; exit 3").returncode == 0
    wait_for(lambda: pproj.ao_json("status", "d-1")["activity"] == "working", what="working")  # type: ignore[index]
    wait_for(lambda: pproj.ao_json("list")[0]["status"] == "exited", what="exited")  # type: ignore[index]
    assert "bye-now" in pproj.ao("logs", "d-1").stdout
    (name,) = ProcessRuntime().list_names()
    assert ProcessRuntime().probe()[name].exit_status == 3
    assert pproj.ao("stop", "d-1").returncode == 0
    assert ProcessRuntime().list_names() == []


def test_end_to_end_after_the_supervisor_is_killed(pproj: Project) -> None:
    assert pproj.ao("new", "hello").returncode == 0
    wait_for(lambda: pproj.received() == ["hello"], what="the first prompt")
    rt = ProcessRuntime()
    (name,) = rt.list_names()
    agent = rt.probe()[name].pid
    old = stats(rt)["pid"]
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: gone(old), what="the supervisor to die")
    started = time.monotonic()
    wait_for(lambda: pproj.ao_json("list")[0]["status"] == "exited", what="exited")  # type: ignore[index]
    assert time.monotonic() - started < 30
    assert agent and gone(agent)
    r = pproj.ao("send", "d-1", "hello again")
    assert r.returncode != 0 and "ao restore" in r.stderr
    assert pproj.ao("stop", "d-1").returncode == 0
    assert rt.list_names() == []


def test_the_supervisor_exits_when_idle(
    runtime: ProcessRuntime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AO_PROCESS_IDLE", "0.5")  # the supervisor reads it when it starts
    handle = runtime.create(spec("i1", sh("exit 0"), tmp_path))
    pid = stats(runtime)["pid"]
    wait_for(lambda: not runtime.probe()["i1"].running, what="exit")
    time.sleep(1.0)
    assert not gone(pid)  # an exited session is still held (its screen and status)
    runtime.destroy(handle)
    wait_for(lambda: gone(pid), what="the idle supervisor to exit")
    assert not runtime.socket.exists()
    assert runtime.probe() == {}


def test_without_tmux_an_unset_runtime_is_the_process_runtime_with_a_note(
    git_repo: Path, ao: RunAo, tmp_path: Path
) -> None:
    """PATH without tmux (every other program linked in): a config that names no runtime
    runs its sessions on the process runtime, and `ao doctor` says why."""
    bin_dir = tmp_path / "bin-without-tmux"
    bin_dir.mkdir()
    for folder in os.environ["PATH"].split(os.pathsep):
        for program in Path(folder).glob("*") if Path(folder).is_dir() else []:
            target = bin_dir / program.name
            if program.name != "tmux" and not target.exists():
                target.symlink_to(program)
    env = {"PATH": str(bin_dir)}
    p = Project(git_repo, t.cast(t.Any, None), ao)
    p.configure(agent_command=["sh"])
    try:
        r = ao("new", "echo hi", cwd=git_repo.parent, env=env)
        assert r.returncode == 0, r.stderr
        r = ao("list", "--json", cwd=git_repo.parent, env=env)
        assert json.loads(r.stdout)["data"][0]["runtime"] == "process"
        assert ProcessRuntime().list_names() != []
        doctor = ao("doctor", cwd=git_repo.parent, env=env)
        assert "tmux is not installed: sessions run on the process runtime" in doctor.stdout
        r = ao("list", "--json", cwd=git_repo.parent)  # with tmux: the config is re-read
        assert r.returncode == 0
        assert ao("stop", "d-1", cwd=git_repo.parent, env=env).returncode == 0
    finally:
        end_supervisor(ProcessRuntime())
