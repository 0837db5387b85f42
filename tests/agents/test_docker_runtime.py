"""A real agent CLI in a container: Codex on the docker runtime against the scripted model.

The Docker engine and the image are real (tests/dockerkit.py: a rootfs imported here,
the host's programs mounted read-only). Codex runs inside the container with its
per-session ``CODEX_HOME`` (ao's state dir, mounted at the same path), reaches the
scripted model on 127.0.0.1 over the host's network, and writes into the mounted
worktree; ao reads its rollout and screen from outside.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests import dockerkit

from . import fakemodel as fm
from .conftest import PREFIX, Harness

pytestmark = pytest.mark.agents


def test_codex_in_a_container_works_a_turn_and_takes_a_message(codex: Harness) -> None:
    dockerkit.require_engine()
    codex.fake.script(
        fm.write_file("hello.txt", "hi from a container\n", delay=2),
        fm.text("I wrote hello.txt.", delay=1),
        fm.text("Second answer.", delay=1),
    )
    # the container is the sandbox: Codex's own (bubblewrap) cannot make namespaces in one
    codex.configure("codex", model="gpt-5", runtime="docker", permissions="bypass")
    config = codex.repo.parent / "agent-orchestrator.yaml"
    mounts = dockerkit.host_mounts()
    if PREFIX.is_dir():
        mounts.append(f"{PREFIX}:{PREFIX}:ro")
    config.write_text(
        config.read_text()
        + "plugins:\n  docker:\n"
        + f"    image: {dockerkit.build_image()}\n    network: host\n"
        + f"    mounts: {mounts!r}\n"
        + "    env: [PATH, FAKE_OPENAI_KEY, 'CODEX_*']\n"
    )
    try:
        r = codex.ao("new", "Write hello.txt please.")
        assert r.returncode == 0, r.stderr
        ready = codex.wait_activity("d-1", "ready", timeout=60)
        assert ready["evidence"]["source"] == "native:rollout", ready  # type: ignore[index]
        meta = codex.metadata("d-1")
        assert meta["runtime"] == "docker"
        worktree = Path(meta["worktree"])
        assert (worktree / "hello.txt").exists(), codex.screen("d-1")
        assert (worktree / "hello.txt").read_text() == "hi from a container\n"
        ps = subprocess.run(
            ["docker", "ps", "--filter", "label=ao.session", "--format", "{{.Names}} {{.Image}}"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert dockerkit.IMAGE in ps.stdout, ps.stdout
        sent = codex.ok("send", "d-1", "And now?")
        assert sent["status"] == "delivered", sent  # type: ignore[index]
        codex.wait_activity("d-1", "ready", timeout=60)
        assert any("And now?" in req.text() for req in codex.fake.main_requests())
        started = time.monotonic()
        assert codex.ao("stop", "d-1").returncode == 0
        assert time.monotonic() - started < 30
        left = subprocess.run(
            ["docker", "ps", "-a", "-q", "--filter", f"label=ao.session={meta['tmux_name']}"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert left.stdout.strip() == ""
    finally:
        codex.ao("stop", "d-1", "--force")
