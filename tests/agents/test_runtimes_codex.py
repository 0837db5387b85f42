"""A real agent CLI on every runtime: Codex against the scripted model.

On ``process`` (a PTY held by ao's supervisor), ``docker`` (a real engine and an image
built here, tests/dockerkit.py: Codex inside the container with its per-session
``CODEX_HOME`` mounted at the same path, over the host's network) and ``ssh`` (a real
OpenSSH server on loopback, tests/sshkit.py: Codex in tmux on that host; ``ssh-copy``,
the same host with a ``workdir``: Codex works on the session's own copy of the worktree
there). Each time: the first prompt is worked (a file written in the worktree), ao reads
the turn from Codex's rollout (from the screen on a copy, whose rollouts stay on the
host), a message is delivered and answered, and stop ends it (a copy's work brought back).
"""

from __future__ import annotations

import subprocess
import time
import typing as t
from pathlib import Path

import pytest
import yaml

from tests import dockerkit, sshkit

from . import fakemodel as fm
from .conftest import PREFIX, Harness

pytestmark = pytest.mark.agents


def runtime_plugins(runtime: str, tmp: Path, hosts: list[sshkit.SshHost]) -> dict[str, t.Any]:
    if runtime == "docker":
        dockerkit.require_engine()
        mounts = dockerkit.host_mounts()
        if PREFIX.is_dir():
            mounts.append(f"{PREFIX}:{PREFIX}:ro")
        return {"docker": {"image": dockerkit.build_image(), "network": "host",
                           "mounts": mounts, "env": ["PATH", "FAKE_OPENAI_KEY", "CODEX_*"]}}  # fmt: skip
    if runtime.startswith("ssh"):
        hosts += sshkit.start_hosts(tmp / "hosts", 1)
        host = hosts[0].options()
        if runtime == "ssh-copy":
            host["workdir"] = str(tmp / "far")
        return {"ssh": {"hosts": {"h1": host},
                        "env": ["PATH", "FAKE_OPENAI_KEY", "CODEX_*"]}}  # fmt: skip
    return {}


@pytest.mark.parametrize("runtime", ["process", "docker", "ssh", "ssh-copy"])
def test_codex_works_a_turn_and_takes_a_message(
    codex: Harness, runtime: str, tmp_path: Path
) -> None:
    hosts: list[sshkit.SshHost] = []
    plugins = runtime_plugins(runtime, tmp_path, hosts)
    codex.fake.script(
        fm.write_file("hello.txt", f"hi from {runtime}\n", delay=2),
        fm.text("I wrote hello.txt.", delay=1),
        fm.text("Second answer.", delay=1),
    )
    # in a container the container is the sandbox: Codex's own (bubblewrap) cannot make
    # namespaces there, so it runs with permissions bypassed
    permissions = "bypass" if runtime == "docker" else "default"
    name = runtime.partition("-")[0]
    codex.configure("codex", model="gpt-5", runtime=name, permissions=permissions)
    config = codex.repo.parent / "agent-orchestrator.yaml"
    doc = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**doc, "plugins": plugins}))
    try:
        r = codex.ao("new", "Write hello.txt please.")
        assert r.returncode == 0, r.stderr
        ready = codex.wait_activity("d-1", "ready", timeout=60)
        source = "screen" if runtime == "ssh-copy" else "native:rollout"
        assert ready["evidence"]["source"] == source, ready  # type: ignore[index]
        meta = codex.metadata("d-1")
        assert meta["runtime"] == name
        worktree = Path(meta["worktree"])
        tree = tmp_path / "far" / meta["tmux_name"] if runtime == "ssh-copy" else worktree
        assert (tree / "hello.txt").exists(), codex.screen("d-1")
        assert (tree / "hello.txt").read_text() == f"hi from {runtime}\n"
        if runtime == "docker":
            ps = subprocess.run(
                ["docker", "ps", "--filter", f"label=ao.session={meta['tmux_name']}",
                 "--format", "{{.Image}}"], capture_output=True, text=True, timeout=30,
            )  # fmt: skip
            assert ps.stdout.strip() == dockerkit.IMAGE, ps.stdout
        sent = codex.ok("send", "d-1", "And now?")
        assert sent["status"] == "delivered", sent  # type: ignore[index]
        codex.wait_activity("d-1", "ready", timeout=60)
        assert any("And now?" in req.text() for req in codex.fake.main_requests())
        started = time.monotonic()
        assert codex.ao("stop", "d-1").returncode == 0
        assert time.monotonic() - started < 30
        assert codex.ok("list") == []
        assert (worktree / "hello.txt").read_text() == f"hi from {runtime}\n"  # kept
    finally:
        codex.ao("stop", "d-1", "--force")
        sshkit.stop_hosts(hosts)
