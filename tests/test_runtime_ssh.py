"""The ``ssh`` runtime against real OpenSSH servers on loopback (tests/sshkit.py).

Three hosts, key authentication only. Placement by free capacity and by ``--host``,
one round trip per host for a listing of many sessions, byte-exact paste, the agent's
variables never on a command line, and a host that drops: its sessions read
``unreachable``, nothing is destroyed, and they are back when it is.
The life cycle through the ``ao`` CLI is in tests/test_runtimes_e2e.py.
"""

from __future__ import annotations

import os
import typing as t
from collections.abc import Iterator
from pathlib import Path

import pytest
from ao_plugins.runtime_ssh import SshRuntime

from ao import registry
from ao.sdk import conformance, proc
from ao.sdk.contracts import Isolating, RuntimeSpec
from ao.sdk.errors import CommandError, ConfigError, SpawnError
from tests import sshkit
from tests.sessionkit import attach_type_and_detach, wait_for

SECRET = "sk-ssh-secret-9137"


@pytest.fixture
def hosts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[sshkit.SshHost]]:
    monkeypatch.setenv("AO_TMUX_SOCKET", f"aossh-{os.getpid()}-{tmp_path.name[-10:]}")
    started = sshkit.start_hosts(tmp_path / "hosts", 3)
    yield started
    for i, host in enumerate(started):
        if host.proc is None:
            host.start()
        SshRuntime({"hosts": {f"h{i + 1}": host.options()}}).end_sandbox(
            os.environ["AO_TMUX_SOCKET"]
        )
    sshkit.stop_hosts(started)


def runtime(hosts: list[sshkit.SshHost], **options: t.Any) -> SshRuntime:
    config = {f"h{i + 1}": {**h.options(), **options} for i, h in enumerate(hosts)}
    return SshRuntime({"hosts": config})


def spec(name: str, argv: list[str], cwd: Path, **kw: t.Any) -> RuntimeSpec:
    return RuntimeSpec(name=name, argv=argv, cwd=cwd, owner="tester", width=100, height=30, **kw)


def counting(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    calls: list[list[str]] = []
    real = proc.run

    def run(argv: list[str], **kw: t.Any) -> proc.Result:
        calls.append(argv)
        return real(argv, **kw)

    monkeypatch.setattr(proc, "run", run)
    return calls


def test_registered_conformant_and_isolating() -> None:
    assert registry.load_class("runtime", "ssh") is SshRuntime
    rt = SshRuntime({"hosts": {"a": {"target": "me@example.invalid"}}})
    assert conformance.problems("runtime", rt) == []
    assert isinstance(rt, Isolating) and rt.local_runtime() == "tmux"


def test_bad_options_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"plugins\.ssh\.hosts\.a\.maxSessions"):
        SshRuntime({"hosts": {"a": {"target": "x", "maxSessions": 0}}})
    with pytest.raises(ConfigError, match=r"plugins\.ssh\.hosts\.a\.tagret"):
        SshRuntime({"hosts": {"a": {"tagret": "x"}}})
    with pytest.raises(ConfigError, match="no hosts"):
        SshRuntime({}).create(spec("n", ["true"], Path("/")))


def test_placement_spreads_by_free_capacity_and_honours_the_host_asked_for(
    hosts: list[sshkit.SshHost], tmp_path: Path
) -> None:
    rt = runtime(hosts, maxSessions=2)
    placed = [rt.create(spec(f"p{i}", ["sleep", "60"], tmp_path)).target.split("/")[0]
              for i in range(3)]  # fmt: skip
    assert sorted(placed) == ["h1", "h2", "h3"]  # each went to the host with most room
    asked = rt.create(spec("p3", ["sleep", "60"], tmp_path, where="h2"))
    assert asked.target.startswith("h2/")
    with pytest.raises(ConfigError, match="no host 'h9'") as info:
        rt.create(spec("p4", ["sleep", "60"], tmp_path, where="h9"))
    assert "h1, h2, h3" in (info.value.hint or "")
    rt.create(spec("p5", ["sleep", "60"], tmp_path))
    rt.create(spec("p6", ["sleep", "60"], tmp_path))  # h1 and h3 full too now
    with pytest.raises(SpawnError, match="no host can take a session"):
        rt.create(spec("p7", ["sleep", "60"], tmp_path))
    with pytest.raises(SpawnError, match="does not exist on host"):
        rt.create(spec("p8", ["true"], tmp_path / "nowhere", where="h1"))


def test_a_listing_of_30_sessions_is_one_round_trip_per_host(
    hosts: list[sshkit.SshHost], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = runtime(hosts, maxSessions=10)
    handles = [rt.create(spec(f"l{i}", ["sh", "-c", f"echo screen-{i}; sleep 60"], tmp_path))
               for i in range(30)]  # fmt: skip
    wait_for(lambda: len(rt.probe()) == 30, timeout=30, what="30 sessions")
    calls = counting(monkeypatch)
    states = rt.probe()
    assert len(states) == 30 and all(s.running for s in states.values())
    assert len(calls) == 3 and all(argv[0] == "ssh" for argv in calls)
    calls.clear()
    screens = rt.capture_many(handles)  # the probe's answer carried them: no call at all
    assert calls == []
    assert all(f"screen-{i}" in screens[f"l{i}"] for i in range(30))
    screens = runtime(hosts, maxSessions=10).capture_many(handles)  # without a probe first
    assert len(calls) == 3
    assert all(f"screen-{i}" in screens[f"l{i}"] for i in range(30))
    calls.clear()
    assert len(rt.list_names(owner="tester")) == 30 and len(calls) == 3


def test_paste_is_byte_exact_and_values_never_on_a_command_line(
    hosts: list[sshkit.SshHost], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = runtime(hosts)
    out = tmp_path / "got.txt"
    reader = f'stty -echo; echo "key=$ANTHROPIC_API_KEY" > {out}.env; cat > {out}'
    calls = counting(monkeypatch)
    handle = rt.create(
        spec("w1", ["sh", "-c", reader], tmp_path, env={"ANTHROPIC_API_KEY": SECRET, "HOME": "/x"})
    )
    assert not any(SECRET in arg for argv in calls for arg in argv)
    wait_for(lambda: Path(f"{out}.env").exists(), timeout=20, what="the agent's start")
    assert Path(f"{out}.env").read_text() == f"key={SECRET}\n"
    text = "quote \" ' `x` $(touch pwned) \t tab; é 日本 🚀 \\ back\n" * 200
    rt.paste(handle, text)
    rt.send_keys(handle, "C-d")
    wait_for(lambda: out.exists() and out.read_text() == text, timeout=20, what="the paste")
    assert not any(SECRET in arg for argv in calls for arg in argv)
    assert not list(tmp_path.rglob("pwned"))
    env_dirs = list(Path("/tmp").glob("ao-env-*")) + list(Path("/run/user").glob("*/ao-env-*"))
    assert not [f for d in env_dirs for f in d.iterdir()]  # the pane read it and deleted it


def test_a_host_that_drops_reads_unreachable_and_nothing_is_lost(
    hosts: list[sshkit.SshHost], tmp_path: Path
) -> None:
    rt = runtime(hosts)
    a = rt.create(spec("u1", ["sleep", "120"], tmp_path, where="h1"))
    rt.create(spec("u2", ["sleep", "120"], tmp_path, where="h2"))
    assert all(s.running and not s.unreachable for s in rt.probe().values())
    hosts[0].drop()
    states = rt.probe()
    assert states["u1"].unreachable and "h1" in states["u1"].unreachable
    assert states["u1"].alive and states["u1"].running  # never guessed as exited
    assert states["u2"].running and not states["u2"].unreachable
    with pytest.raises(CommandError, match="unreachable") as info:
        rt.destroy(a)
    assert "nothing was changed" in (info.value.hint or "")
    assert rt.list_names(owner="tester") == ["u2"]  # gc sees nothing there to remove
    hosts[0].start()
    state = wait_for(lambda: rt.probe().get("u1"), timeout=20, what="the host back")
    assert not t.cast(t.Any, state).unreachable and t.cast(t.Any, state).running
    rt.destroy(a, grace=0.3)
    assert "u1" not in rt.probe()


def test_attach_is_ssh_with_a_terminal_into_the_hosts_tmux(hosts: list[sshkit.SshHost]) -> None:
    rt = runtime(hosts)
    argv = rt.attach_argv(rt.hosts["h2"].handle("s9"))
    assert argv[0] == "ssh" and "-t" in argv and f"{hosts[1].port}" in argv
    assert argv[-1].endswith("attach-session -t =s9") and "-ssh-h2" in argv[-1]


def test_ao_reports_a_dropped_hosts_session_unreachable_and_stop_keeps_everything(
    git_repo: Path, ao: t.Any, hosts: list[sshkit.SshHost]
) -> None:
    from tests.sessionkit import Project

    p = Project(git_repo, t.cast(t.Any, None), ao)
    config = {f"h{i + 1}": h.options() for i, h in enumerate(hosts)}
    p.configure(agent_command=["sh"], runtime="ssh", top={"plugins": {"ssh": {"hosts": config}}})
    r = p.ao("new", "echo work > notes.txt", "--host", "h9")
    assert r.returncode == 2 and "no host 'h9' for the ssh runtime" in r.stderr, r.stderr
    assert "hosts: h1, h2, h3" in r.stderr and p.ao_json("list") == []  # nothing was made
    r = p.ao("new", "echo work > notes.txt", "--host", "h3")
    assert r.returncode == 0, r.stderr
    status = t.cast(dict[str, t.Any], p.ao_json("status", "d-1"))
    assert status["runtime"] == "ssh"
    tree = Path(status["worktree"])
    wait_for((tree / "notes.txt").exists, timeout=20, what="the agent's file")
    hosts[2].drop()
    for _ in range(2):  # a watcher pass changes nothing either
        (row,) = t.cast(list[dict[str, t.Any]], p.ao_json("list"))
        assert row["status"] not in ("exited", "killed", "errored"), row
        assert row["activity"] == "unreachable"
        assert p.ao("watch", "--once").returncode == 0
    status = t.cast(dict[str, t.Any], p.ao_json("status", "d-1"))
    assert status["evidence"]["detail"] == "host h3 does not answer"
    r = p.ao("stop", "d-1")
    assert r.returncode != 0 and "unreachable" in r.stderr
    assert (tree / "notes.txt").read_text() == "work\n"
    r = p.ao("restore", "d-1")
    assert r.returncode != 0 and "nothing was changed" in r.stderr
    hosts[2].start()
    (row,) = t.cast(list[dict[str, t.Any]], p.ao_json("list"))
    assert row["activity"] not in ("unknown", "unreachable"), row
    r = p.ao("stop", "d-1")
    assert r.returncode == 0, r.stderr
    assert (tree / "notes.txt").read_text() == "work\n"  # uncommitted work: kept


def test_attach_for_real_through_a_terminal(hosts: list[sshkit.SshHost], tmp_path: Path) -> None:
    """`ssh -t HOST tmux attach` in a real terminal: the screen arrives, typing reaches the
    agent, and tmux's detach leaves it running."""
    rt = runtime(hosts)
    out = tmp_path / "typed.txt"
    handle = rt.create(
        spec(
            "at1",
            ["sh", "-c", f"echo ATTACHED-SCREEN; read x; echo $x > {out}; sleep 60"],
            tmp_path,
        )
    )
    wait_for(lambda: "ATTACHED-SCREEN" in rt.capture(handle), timeout=20, what="the screen")
    attach_type_and_detach(rt.attach_argv(handle), "ATTACHED-SCREEN", "typed-over-ssh", out)
    assert rt.probe()["at1"].running  # detaching leaves the agent running
