"""Hostile input: unbounded streams, oversized texts, names with a trailing newline and an
``agentRulesFile`` that leads out of the repository (issue 8, items 12, 16 and 17)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import types
import typing as t
from pathlib import Path

import pytest
import yaml

from ao.sdk.errors import ConfigError, UsageError
from ao.session.inputs import MAX_TEXT_BYTES, check_text_size, read_bounded
from tests.sessionkit import Project, wait_for

if t.TYPE_CHECKING:
    from tests.conftest import RunAo


def one_error_line(stderr: str) -> str:
    """The single ``ao: error:`` line of a failed command (no traceback, nothing else)."""
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("ao: error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


def ao_with_stdin(
    proj: Project, stdin: t.IO[bytes], *args: str
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "ao", *args], cwd=proj.repo.parent, stdin=stdin,
        capture_output=True, timeout=30,
    )  # fmt: skip


# --------------------------------------------------------------------- item 12: sizes


class _Endless(io.RawIOBase):
    """A stream that never ends and counts what was read from it."""

    def __init__(self) -> None:
        self.served = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf: t.Any) -> int:
        n = min(len(buf), 65536)
        buf[:n] = b"x" * n
        self.served += n
        return n


def test_read_bounded_reads_at_most_one_byte_past_the_limit() -> None:
    endless = _Endless()
    with pytest.raises(UsageError, match="stdin is larger than 1 MB"):
        read_bounded(t.cast(t.BinaryIO, endless), "stdin")
    assert endless.served == MAX_TEXT_BYTES + 1
    exact = io.BytesIO(b"a" * MAX_TEXT_BYTES)
    assert len(read_bounded(exact, "stdin")) == MAX_TEXT_BYTES


def test_check_text_size_counts_utf8_bytes() -> None:
    assert check_text_size("a" * MAX_TEXT_BYTES) == "a" * MAX_TEXT_BYTES
    with pytest.raises(UsageError, match="the message is larger than 1 MB"):
        check_text_size("a" * (MAX_TEXT_BYTES + 1))
    # 333,334 three-byte characters are 1,000,002 bytes
    with pytest.raises(UsageError):
        check_text_size("日" * 333_334)
    assert check_text_size("日" * 333_333)


def test_spawn_and_send_share_one_limit() -> None:
    from ao.session.spawn import clean_task

    assert clean_task("x" * MAX_TEXT_BYTES) == "x" * MAX_TEXT_BYTES
    with pytest.raises(UsageError, match="the task is larger than 1 MB"):
        clean_task("x" * (MAX_TEXT_BYTES + 1))


def test_send_text_argument_over_the_limit_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A TEXT argument is capped too (in-process: one argv string cannot hold 1 MB)."""
    from ao.cli import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["send", "d-1", "x" * (MAX_TEXT_BYTES + 1)])
    assert exit_info.value.code == 2
    line = one_error_line(capsys.readouterr().err)
    assert "the message is larger than 1 MB" in line


@pytest.mark.tmux
def test_endless_and_oversized_input_is_refused_and_nothing_is_sent(proj: Project) -> None:
    """`send --file /dev/zero`, `send -` and `new -` from an endless stream stop at the limit;
    a message one byte over it (it was pasted before) is refused too. Nothing arrives."""
    proj.use_receiver()
    assert proj.ao("new", "first").returncode == 0
    wait_for(lambda: proj.received() == ["first"], what="first prompt")

    started = time.monotonic()
    r = proj.ao("send", "d-1", "--file", "/dev/zero", timeout=30)
    assert r.returncode == 2, r.stderr
    assert "/dev/zero is larger than 1 MB" in one_error_line(r.stderr)
    with Path("/dev/zero").open("rb") as zero:
        r_send = ao_with_stdin(proj, zero, "send", "d-1", "-")
        r_new = ao_with_stdin(proj, zero, "new", "-")
    assert time.monotonic() - started < 20  # read 1 MB, not until memory runs out
    for result in (r_send, r_new):
        assert result.returncode == 2, result.stderr
        assert "stdin is larger than 1 MB" in one_error_line(result.stderr.decode())

    r = proj.ao("send", "d-1", "-", input="y" * (MAX_TEXT_BYTES + 1))
    assert r.returncode == 2, r.stderr
    assert "stdin is larger than 1 MB" in one_error_line(r.stderr)
    big = proj.repo.parent / "big.txt"
    big.write_text("z" * (MAX_TEXT_BYTES + 1))
    r = proj.ao("send", "d-1", "--file", str(big))
    assert r.returncode == 2 and "larger than 1 MB" in one_error_line(r.stderr)

    time.sleep(0.5)
    assert proj.received() == ["first"]
    sessions = proj.ao_json("list")
    assert isinstance(sessions, list) and [s["id"] for s in sessions] == ["d-1"]


@pytest.mark.tmux
def test_core_send_refuses_an_oversized_message(
    proj: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Front-ends other than the CLI call ``ao.session.ops.send``: the cap is in the core."""
    from ao.session.context import Context
    from ao.session.ops import send

    proj.use_receiver()
    assert proj.ao("new", "first").returncode == 0
    wait_for(lambda: proj.received() == ["first"], what="first prompt")
    monkeypatch.chdir(proj.repo.parent)
    ctx = Context.load()
    project, session = ctx.find_session("d-1", None)
    with pytest.raises(UsageError, match="larger than 1 MB"):
        send(ctx, project, session, "x" * (MAX_TEXT_BYTES + 1), wait=5)
    assert proj.received() == ["first"]


# --------------------------------------------------------- item 16: trailing newlines


def test_a_trailing_newline_fails_every_name_check(tmp_path: Path) -> None:
    from ao.completion import _sh_quote
    from ao.config.edit import add_project
    from ao.config.loader import expand_string
    from ao.config.models import AoConfig, ProjectConfig
    from ao.sdk.gitref import validate_branch
    from ao.store import kvfile
    from ao.store.state import validate_session_id

    with pytest.raises(UsageError):
        validate_session_id("nl\n")
    assert validate_session_id("nl") == "nl"
    with pytest.raises(UsageError):
        validate_branch("feat\n")
    with pytest.raises(UsageError):
        kvfile.dumps({"status\n": "x"})
    assert kvfile.loads("status\n=x\nok=1\n") == {"ok": "1"}
    with pytest.raises(ValueError, match=r"projects"):
        AoConfig.model_validate({"projects": {"p\n": {"path": "."}}})
    with pytest.raises(ValueError, match=r"session_prefix|sessionPrefix"):
        ProjectConfig.model_validate({"path": ".", "sessionPrefix": "d\n"})
    with pytest.raises(UsageError, match="invalid project id"):
        add_project(tmp_path / "agent-orchestrator.yaml", "p\n", {"path": str(tmp_path)})
    assert not (tmp_path / "agent-orchestrator.yaml").exists()
    assert expand_string("${HOME\n}", {"HOME\n": "x"}).malformed == ["${HOME\n}"]
    assert _sh_quote("d-1\n") == "'d-1\n'"


def test_a_project_id_with_a_trailing_newline_is_a_config_error(ao: RunAo, tmp_path: Path) -> None:
    config = {"projects": {"p\n": {"path": str(tmp_path)}}}
    (tmp_path / "agent-orchestrator.yaml").write_text(yaml.safe_dump(config))
    r = ao("config", "validate", cwd=tmp_path)
    assert r.returncode == 3, r.stdout + r.stderr


@pytest.mark.tmux
def test_session_names_with_a_trailing_newline_are_refused(proj: Project) -> None:
    r = proj.ao("new", "task", "--name", "nl\n")
    assert r.returncode == 2, r.stderr
    assert "invalid session name 'nl\\n'" in one_error_line(r.stderr)
    sessions = next(Path(os.environ["AO_HOME"]).glob("*-demo/sessions"), None)
    assert sessions is None or not [p.name for p in sessions.iterdir() if "\n" in p.name]
    assert proj.tmux_names() == []
    for args in (("send", "d-1\n", "hi"), ("stop", "d-1\n"), ("logs", "d-1\n")):
        r = proj.ao(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert "invalid session name" in one_error_line(r.stderr)


# ------------------------------------------------------ item 17: agentRulesFile escapes


@pytest.mark.parametrize("value", ["../../etc/passwd", "/etc/passwd", "docs/../../x"])
def test_agent_rules_file_outside_the_repo_is_a_config_error(
    ao: RunAo, tmp_path: Path, value: str
) -> None:
    config = {"projects": {"demo": {"path": str(tmp_path), "agentRulesFile": value}}}
    (tmp_path / "agent-orchestrator.yaml").write_text(yaml.safe_dump(config))
    r = ao("config", "validate", cwd=tmp_path)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "projects.demo.agentRulesFile" in r.stdout + r.stderr


def _project(repo: Path, rules_file: str) -> t.Any:
    config = types.SimpleNamespace(agent_rules_file=rules_file, agent_rules=None)
    return types.SimpleNamespace(id="demo", repo_path=repo, config=config)


def test_agent_rules_symlink_out_of_the_repo_is_refused(tmp_path: Path) -> None:
    from ao.session.spawn import agent_rules

    repo = tmp_path / "repo"
    (repo / "docs").mkdir(parents=True)
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cret\n")
    (repo / "docs" / "rules.md").write_text("be kind\n")
    (repo / "escape.md").symlink_to(secret)
    (repo / "linkdir").symlink_to(tmp_path)
    (repo / "inside.md").symlink_to(repo / "docs" / "rules.md")
    assert agent_rules(_project(repo, "docs/rules.md")) == "be kind\n"
    assert agent_rules(_project(repo, "inside.md")) == "be kind\n"
    for value in ("escape.md", "linkdir/secret.txt"):
        with pytest.raises(ConfigError, match=r"projects\.demo\.agentRulesFile .* outside"):
            agent_rules(_project(repo, value))
    with pytest.raises(ConfigError, match="not a file"):
        agent_rules(_project(repo, "docs"))


@pytest.mark.tmux
def test_spawn_with_an_escaping_rules_file_starts_nothing(proj: Project, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cret\n")
    (proj.repo / "rules.md").symlink_to(secret)
    proj.configure(agentRulesFile="rules.md")
    r = proj.ao("new", "task")
    assert r.returncode != 0
    line = one_error_line(r.stderr)
    assert "projects.demo.agentRulesFile" in line and "outside the repository" in line
    assert "s3cret" not in r.stdout + r.stderr
    assert proj.tmux_names() == []
