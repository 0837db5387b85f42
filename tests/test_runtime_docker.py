"""The ``docker`` runtime against a real Docker engine and a locally imported image.

What the container sees (its own filesystem, the mounted worktree, only the variables it
is meant to get, no network with ``network: none``), what the host keeps (no secret on
any command line, exit status and screen), batched reads (one tmux call and one docker
call for any number of sessions), and containers that outlive their tmux session.
The life cycle through the ``ao`` CLI is in tests/test_runtimes_e2e.py.
"""

from __future__ import annotations

import http.server
import os
import subprocess
import threading
import typing as t
from collections.abc import Iterator
from pathlib import Path

import pytest
from ao_plugins.runtime_docker import DockerRuntime, passed_names, session_paths

from ao import registry
from ao.sdk import conformance, proc
from ao.sdk.contracts import Isolating, RuntimeSpec
from ao.sdk.errors import ConfigError, SpawnError
from tests import dockerkit
from tests.conftest import git
from tests.sessionkit import attach_type_and_detach, wait_for

SECRET = "sk-docker-secret-4711"


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DockerRuntime]:
    """The runtime on a private tmux server; its containers and servers end afterwards."""
    dockerkit.require_engine()
    tag = f"aodk-{os.getpid()}-{tmp_path.name[-12:]}"
    monkeypatch.setenv("AO_TMUX_SOCKET", tag)
    rt = DockerRuntime(
        {"image": dockerkit.build_image(), "network": "none",
         "mounts": dockerkit.host_mounts(tmp_path / "shared")}
    )  # fmt: skip
    (tmp_path / "shared").mkdir()
    yield rt
    rt.end_sandbox(tag)


def spec(name: str, script: str, cwd: Path, **kw: t.Any) -> RuntimeSpec:
    env = {"PATH": os.environ["PATH"], **kw.pop("env", {})}
    return RuntimeSpec(name=name, argv=["sh", "-c", script], cwd=cwd, env=env,
                       width=100, height=30, owner="tester", **kw)  # fmt: skip


def containers(label: str) -> list[str]:
    r = subprocess.run(["docker", "ps", "-a", "-q", "--filter", f"label={label}"],
                       capture_output=True, text=True, timeout=30)  # fmt: skip
    return r.stdout.split()


def test_registered_conformant_and_isolating() -> None:
    assert registry.load_class("runtime", "docker") is DockerRuntime
    rt = DockerRuntime({"image": "x"})
    assert conformance.problems("runtime", rt) == []
    assert isinstance(rt, Isolating) and rt.local_runtime() == "tmux"


def test_bad_options_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"plugins\.docker\.network"):
        DockerRuntime({"image": "x", "network": "internet"})
    with pytest.raises(ConfigError, match=r"plugins\.docker\.imgae"):
        DockerRuntime({"imgae": "x"})
    with pytest.raises(ConfigError, match="needs an image") as info:
        DockerRuntime({}).create(spec("n", "true", Path("/")))
    assert "plugins.docker.image" in (info.value.hint or "")


def test_a_missing_image_is_a_spawn_error_with_the_fix(
    runtime: DockerRuntime, tmp_path: Path
) -> None:
    runtime.options.image = "ao-no-such-image:404"
    with pytest.raises(SpawnError, match="not found") as info:
        runtime.create(spec("m1", "true", tmp_path))
    assert "docker pull" in (info.value.hint or "")
    assert runtime.list_names() == []


def test_mounts_are_the_worktree_its_git_dir_and_the_state_dir(
    git_repo: Path, tmp_path: Path
) -> None:
    tree = tmp_path / "wt"
    git(git_repo, "worktree", "add", "-q", "-b", "feat", str(tree))
    (tree / "sub").mkdir()
    state = tmp_path / "state"
    state.mkdir()
    assert session_paths(tree / "sub", (state, tree / "sub")) == [tree, git_repo / ".git", state]
    assert session_paths(git_repo, ()) == [git_repo]  # a full clone carries its .git


def test_variables_passed_by_name() -> None:
    env = {"PATH": "/x", "HOME": "/h", "MINE": "1", "ANTHROPIC_API_KEY": "k", "AWS_SECRET": "s",
           "LANG": "C", "TERM": "xterm"}  # fmt: skip
    allowed = ["ANTHROPIC_*", "LANG"]
    assert passed_names(env, frozenset({"MINE", "PATH"}), allowed) == [
        "ANTHROPIC_API_KEY",
        "LANG",
        "MINE",
    ]
    assert "PATH" in passed_names(env, frozenset(), ["PATH"])  # named exactly: passed


def test_the_container_sees_only_its_own(runtime: DockerRuntime, tmp_path: Path) -> None:
    home_file = Path(os.environ["HOME"]) / "private.txt"
    home_file.write_text("host only")
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    work = tmp_path / "work"
    work.mkdir()
    script = (
        "env | cut -d= -f1 | sort | tr '\\n' ' ' > env.txt; echo \"$MINE $ANTHROPIC_API_KEY\" > values.txt; "
        f"test -e {home_file} && echo visible > home.txt; "
        f"python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {port}), 2)' "
        "2>/dev/null && echo reached > net.txt; echo finished; exit 3"
    )
    env = {"MINE": "one", "ANTHROPIC_API_KEY": SECRET, "AWS_SECRET_ACCESS_KEY": "aws", "HOME": "/h"}
    handle = runtime.create(spec("iso", script, work, env=env, own_env=frozenset({"MINE"})))
    try:
        # tmux marks the pane dead at the PTY's end, and reads the status a moment later;
        # an engine busy removing other containers may take long to start this one
        wait_for(lambda: runtime.probe()["iso"].exit_status is not None, timeout=90, what="exit")
        assert runtime.probe()["iso"].exit_status == 3
        assert "finished" in runtime.capture(handle)
        names = set((work / "env.txt").read_text().split())
        assert {"MINE", "ANTHROPIC_API_KEY"} <= names
        assert not names & {"AWS_SECRET_ACCESS_KEY", "PYTEST_CURRENT_TEST", "AO_HOME"}
        assert (work / "values.txt").read_text() == f"one {SECRET}\n"
        assert not (work / "home.txt").exists()  # the host's home is not there
        assert not (work / "net.txt").exists()  # network: none
        assert containers("ao.session=iso") == []  # --rm: gone once it exited
    finally:
        server.shutdown()
        runtime.destroy(handle)
    assert runtime.list_names() == []


def test_no_secret_on_a_command_line(runtime: DockerRuntime, tmp_path: Path) -> None:
    handle = runtime.create(spec("sec", "sleep 30", tmp_path, env={"ANTHROPIC_API_KEY": SECRET}))
    # the container's own foreground program (the pane's is the docker client)
    wait_for(lambda: runtime.probe()["sec"].current_command == "sh", timeout=30,
             what="the container's foreground program")  # fmt: skip
    lines = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                lines.append((entry / "cmdline").read_bytes().replace(b"\0", b" "))
            except OSError:
                continue
    assert any(b"docker run" in line and b"ANTHROPIC_API_KEY" in line for line in lines)
    assert not any(SECRET.encode() in line for line in lines)
    runtime.destroy(handle, grace=0.5)


def test_paste_keys_and_one_call_each_for_probe_and_capture_of_many(
    runtime: DockerRuntime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader = 'stty -echo; while read -r line; do echo "got:$line" >> got.txt; done'
    handles = [runtime.create(spec(f"b{i}", reader, tmp_path / "shared")) for i in range(3)]
    wait_for(lambda: all(s.current_command == "sh" for s in runtime.probe().values())
             and len(runtime.probe()) == 3, timeout=30, what="three shells")  # fmt: skip
    calls: list[list[str]] = []
    real = proc.run

    def counting(argv: list[str], **kw: t.Any) -> proc.Result:
        calls.append(argv)
        return real(argv, **kw)

    monkeypatch.setattr(proc, "run", counting)
    states = runtime.probe()
    assert set(states) == {"b0", "b1", "b2"} and all(s.running for s in states.values())
    assert [argv[0] for argv in calls] == ["tmux", "docker"]  # one each, for three sessions
    calls.clear()
    screens = runtime.capture_many(handles)
    assert set(screens) == {"b0", "b1", "b2"} and len(calls) == 1
    monkeypatch.setattr(proc, "run", real)
    text = "tab\there 'quotes' $(no) é 日本"
    runtime.paste(handles[0], text)
    runtime.send_keys(handles[0], "Enter")
    got = tmp_path / "shared" / "got.txt"
    wait_for(lambda: got.exists() and "got:" in got.read_text(), what="the pasted line")
    assert got.read_text() == f"got:{text}\n"
    for handle in handles:
        runtime.destroy(handle, grace=0.5)
    assert runtime.list_names() == []


def test_a_container_outliving_its_tmux_server_is_found_and_replaced(
    runtime: DockerRuntime, tmp_path: Path
) -> None:
    runtime.create(spec("orph", "sleep 60", tmp_path))
    wait_for(lambda: containers("ao.session=orph"), timeout=30, what="the container")
    subprocess.run([*runtime.base_argv(), "kill-server"], timeout=10, check=False)
    wait_for(lambda: containers("ao.session=orph"), what="the container to outlive tmux")
    assert runtime.list_names(owner="tester") == ["orph"]  # found from its labels
    assert runtime.list_names(owner="someone-else") == []
    handle = runtime.create(spec("orph", "echo second; sleep 60", tmp_path))  # a restore
    wait_for(lambda: "second" in runtime.capture(handle), timeout=30, what="the new container")
    assert len(containers("ao.session=orph")) == 1
    runtime.destroy(handle, grace=0.5)
    assert containers("ao.session=orph") == [] and runtime.list_names() == []


def test_attach_is_tmux_on_the_docker_server(
    runtime: DockerRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    handle = runtime.handle("x1")
    monkeypatch.delenv("TMUX", raising=False)
    assert runtime.attach_argv(handle) == [*runtime.base_argv(), "attach-session", "-t", "=x1"]
    monkeypatch.setenv("TMUX", "/tmp/tmux-0/default,1,0")  # inside the user's own server
    assert runtime.attach_argv(handle)[:3] == ["env", "-u", "TMUX"]
    assert runtime.base_argv()[-1].endswith("-docker")


def test_attach_for_real_through_a_terminal(runtime: DockerRuntime, tmp_path: Path) -> None:
    """`ao attach`'s command in a real terminal: the container's screen arrives, typing
    reaches the agent inside, and tmux's detach leaves it running."""
    out = tmp_path / "shared" / "typed.txt"
    script = f"echo CONTAINER-SCREEN; read x; echo $x > {out}; sleep 60"
    handle = runtime.create(spec("at1", script, tmp_path / "shared"))
    wait_for(lambda: "CONTAINER-SCREEN" in runtime.capture(handle), timeout=30, what="screen")
    argv = runtime.attach_argv(handle, inside=False)
    attach_type_and_detach(argv, "CONTAINER-SCREEN", "typed-in-container", out)
    assert runtime.probe()["at1"].running
    runtime.destroy(handle, grace=0.5)
