"""Codex under ``ao``, end to end: real CLI, real tmux, real git, scripted fake model."""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from pathlib import Path

import pytest
from ao_plugins.agent_codex import CodexAgent

from . import fakemodel as fm
from .conftest import Harness, agent_bin, seed_codex_home, wait_for

pytestmark = [pytest.mark.agents, pytest.mark.tmux, pytest.mark.slow, pytest.mark.timeout(240)]

TASK = 'Write hello.txt — it says "hi".\nKeep $HOME and `ticks` literal; 日本 🚀\nThanks.'


def user_prompts(req: fm.Request) -> list[str]:
    """The prompts typed by the user (not the injected context messages)."""
    prompts = []
    for item in req.body.get("input", []):
        if item.get("type") != "message" or item.get("role") != "user":
            continue
        for part in item.get("content") or []:
            text = part.get("text", "") if isinstance(part, dict) else ""
            if text and not text.lstrip().startswith(("<", "# AGENTS.md")):
                prompts.append(text)
    return prompts


def test_turn_lifecycle_file_tokens_and_first_prompt(codex: Harness) -> None:
    """spawn → working → ready; a real file is written through Codex's shell tool."""
    codex.fake.script(
        fm.write_file("hello.txt", "hi from codex\n", delay=3),
        fm.text("I wrote hello.txt.", delay=1),
    )
    codex.configure("codex", model="gpt-5", agentRules="Always answer briefly.")
    started = time.monotonic()
    r = codex.ao("new", TASK)
    assert r.returncode == 0, r.stderr
    working = codex.wait_activity("d-1", "working", timeout=10)
    assert working["evidence"]["source"] == "native:rollout", working  # type: ignore[index]
    ready = codex.wait_activity("d-1", "ready", timeout=30)
    assert ready["evidence"]["source"] == "native:rollout", ready  # type: ignore[index]
    assert ready["prompt_delivery"] == "delivered"
    assert time.monotonic() - started >= 4

    requests = codex.fake.main_requests()
    assert all(user_prompts(r) == [TASK] for r in requests), [user_prompts(r) for r in requests]
    assert "Always answer briefly." in requests[0].text()  # the rules reached the model

    meta = codex.metadata("d-1")
    worktree = Path(meta["worktree"])
    assert (worktree / "hello.txt").read_text() == "hi from codex\n"
    assert not (worktree / "AGENTS.md").exists()  # nothing written into the repo
    assert Path(meta["agent_home"]).is_relative_to(Path(os.environ["AO_HOME"]))

    (row,) = codex.ok("list")  # type: ignore[misc]
    assert row["activity"] == "ready"
    info = CodexAgent().session_info(meta)
    shown = codex.status("d-1")["info"]  # what `ao status SESSION --json` reports
    assert shown == dataclasses.asdict(info), shown
    assert info.native_session_id
    assert info.input_tokens == 2 * fm.INPUT_TOKENS
    assert info.output_tokens == 2 * fm.OUTPUT_TOKENS
    assert info.cost_usd is not None and info.cost_usd > 0
    assert info.summary is not None and info.summary.startswith("Write hello.txt")


def test_approval_is_needs_input_until_answered(codex: Harness) -> None:
    """An escalated command → needs_input from the rollout (no screen needed); send answers."""
    codex.fake.script(fm.needs_permission("echo allowed > perm.txt"), fm.text("Ran it.", delay=3))
    assert codex.ao("new", "run the command").returncode == 0
    asked = codex.wait_activity("d-1", "needs_input", timeout=20)
    assert asked["evidence"]["source"] == "native:rollout", asked  # type: ignore[index]
    time.sleep(3)
    assert codex.status("d-1")["activity"] == "needs_input"
    (row,) = codex.ok("list")  # type: ignore[misc]
    assert row["activity"] == "needs_input"

    sent = codex.ok("send", "d-1", "y")
    assert sent["status"] == "delivered", sent  # type: ignore[index]
    codex.wait_activity("d-1", "working", timeout=10)  # approved: the command ran, model busy
    codex.wait_activity("d-1", "ready", timeout=30)
    worktree = Path(codex.metadata("d-1")["worktree"])
    assert (worktree / "perm.txt").read_text().strip() == "allowed"


def test_large_first_prompt_arrives_whole(codex: Harness) -> None:
    codex.fake.script(fm.text("Got it."))
    task = "".join(f"quote \" ' `x` $(touch pwned) é ü 日本 🚀 \\ back {i}\n" for i in range(180))
    task = task.rstrip("\n")
    r = codex.ao("new", task)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: codex.fake.turns_served() >= 1, 30, "the first turn")
    assert user_prompts(codex.fake.main_requests()[0]) == [task]


def test_restore_resumes_the_same_conversation(codex: Harness) -> None:
    codex.fake.script(fm.text("First answer."), fm.text("Second answer."))
    assert codex.ao("new", "remember the word PELICAN").returncode == 0
    codex.wait_activity("d-1", "ready", timeout=30)
    native_id = CodexAgent().session_info(codex.metadata("d-1")).native_session_id
    os.kill(codex.pane_pid("d-1"), signal.SIGTERM)
    codex.wait_activity("d-1", "exited", timeout=15)

    r = codex.ao("restore", "d-1")
    assert r.returncode == 0, r.stderr
    assert codex.metadata("d-1")["native_session_id"] == native_id
    codex.wait_activity("d-1", "ready", timeout=30)
    sent = codex.ok("send", "d-1", "what was the word?")
    assert sent["status"] == "delivered", sent  # type: ignore[index]
    wait_for(lambda: codex.fake.turns_served() >= 2, 30, "the resumed turn")
    last = codex.fake.main_requests()[-1]
    assert user_prompts(last) == ["remember the word PELICAN", "what was the word?"]
    assert "First answer." in last.text()
    codex.wait_activity("d-1", "ready", timeout=30)


def test_auth_error_is_blocked_with_reason(codex: Harness) -> None:
    codex.fake.script(fm.auth_error())
    assert codex.ao("new", "hello").returncode == 0
    blocked = codex.wait_activity("d-1", "blocked", timeout=40)
    assert "authentication failed" in blocked["evidence"]["detail"], blocked  # type: ignore[index]
    # once Codex gives up, the rollout says so too (no screen needed)
    wait_for(lambda: codex.ok("list")[0]["activity"] == "blocked", 40, "list to say blocked")  # type: ignore[index]


def test_missing_provider_key_is_blocked_until_restored_with_it(
    codex: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's case: the custom provider's env_key variable is not set. Codex fails the
    turn at once ("Missing environment variable"): blocked, never ready; set the variable
    where ao runs and `ao restore`: the same conversation goes on."""
    monkeypatch.delenv("FAKE_OPENAI_KEY")
    codex.fake.script(fm.text("Back again."))
    assert codex.ao("new", "hello").returncode == 0
    codex.blocked("d-1", "Missing environment variable: `FAKE_OPENAI_KEY`")
    assert codex.fake.main_requests() == []  # it never reached the model
    monkeypatch.setenv("FAKE_OPENAI_KEY", "sk-fake")
    codex.recovers("d-1", codex.fake)


def test_a_key_only_ao_has_reaches_codex_under_an_older_tmux_server(codex: Harness) -> None:
    """The issue's setup: a tmux server already runs from an environment without the
    custom provider's key (and without the agent CLIs on PATH); `ao new` from a shell that
    has it: Codex gets it and its turn succeeds."""
    codex.start_login_server()
    codex.fake.script(fm.text("Hello with the key."))
    assert codex.ao("new", "hello").returncode == 0
    codex.wait_activity("d-1", "ready", timeout=40)
    assert len(codex.fake.main_requests()) >= 1


def test_auth_error_recovers_after_restore(codex: Harness) -> None:
    codex.fake.script(fm.auth_error())
    assert codex.ao("new", "hello").returncode == 0
    codex.blocked("d-1", "authentication failed", timeout=60)
    codex.fake.script(fm.text("Back again."))  # the key is good again
    codex.recovers("d-1", codex.fake)  # (Codex may still be retrying: restore ends that)


@pytest.mark.parametrize(
    ("step", "reason"),
    [(fm.bad_request(), "the last turn failed: Invalid request: the scripted model refuses"),
     (fm.model_not_found(), "the last turn failed: The model `gpt-5` does not exist")],
    ids=["400", "404"],
)  # fmt: skip
def test_request_error_is_blocked(codex: Harness, step: fm.Step, reason: str) -> None:
    codex.fake.script(step)
    assert codex.ao("new", "hello").returncode == 0
    doc = codex.blocked("d-1", reason)
    assert doc["evidence"]["source"] == "native:rollout"  # type: ignore[index]


def test_usage_limit_is_blocked_with_reset_time(codex: Harness) -> None:
    codex.fake.script(fm.usage_limit(resets_in=2 * 3600))
    assert codex.ao("new", "hello").returncode == 0
    blocked = codex.wait_activity("d-1", "blocked", timeout=30)
    detail = blocked["evidence"]["detail"]  # type: ignore[index]
    assert "usage limit reached" in detail and "try again at" in detail, blocked
    assert blocked["evidence"]["source"] == "native:rollout"  # type: ignore[index]


def test_not_logged_in_fails_the_spawn_with_the_reason(codex: Harness, isolated_env: Path) -> None:
    (isolated_env / ".codex" / "config.toml").unlink()
    assert CodexAgent().auth().kind == "none"
    r = codex.ao("new", "hello")
    assert r.returncode != 0
    assert "not logged in" in r.stderr, r.stderr


def test_api_key_from_the_environment(
    codex: Harness, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OPENAI_API_KEY + OPENAI_BASE_URL, no config and no login: no sign-in screen, it works."""
    (isolated_env / ".codex" / "config.toml").unlink()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake-env")
    monkeypatch.setenv("OPENAI_BASE_URL", f"{codex.fake.url}/v1")
    assert CodexAgent().auth().kind == "api-key"
    codex.fake.script(fm.text("Hello from the env key."))
    r = codex.ao("new", "hello")
    assert r.returncode == 0, r.stderr
    # the built-in provider tries WebSocket first; the fake refuses, Codex falls back to SSE
    wait_for(lambda: codex.fake.turns_served() == 1, 40, "the turn over HTTP")
    ready = codex.wait_activity("d-1", "ready", timeout=30)
    assert ready["evidence"]["source"] == "native:rollout", ready  # type: ignore[index]


def test_version_and_home_isolation(tmp_path: Path, isolated_env: Path) -> None:
    if agent_bin("codex") is None:
        pytest.skip("codex is not installed")
    assert (CodexAgent().version() or "").startswith("0.")
    seed_codex_home(isolated_env, "http://127.0.0.1:9")
    from ao.sdk.contracts import LaunchContext

    ctx = LaunchContext(
        session_id="d-9", worktree=tmp_path / "wt", task="", state_dir=tmp_path / "s"
    )
    spec = CodexAgent().launch(ctx)
    home = Path(spec.env["CODEX_HOME"])
    assert "--no-daemon" in spec.argv
    config = (home / "config.toml").read_text()
    assert 'model_provider = "fake"' in config and "trust_level" in config
    assert (home / "config.toml").stat().st_mode & 0o077 == 0


def test_answering_no_to_an_approval_denies_it(codex: Harness) -> None:
    """`ao send S no` presses Codex's own key for "No" (esc); the command never runs."""
    codex.fake.script(fm.needs_permission("echo denied > denied.txt"), fm.text("Okay, skipped."))
    assert codex.ao("new", "run the command").returncode == 0
    codex.wait_activity("d-1", "needs_input", timeout=30)
    sent = codex.ok("send", "d-1", "no")
    assert sent["status"] == "delivered" and "Escape" in sent["detail"], sent  # type: ignore[index]
    time.sleep(3)
    worktree = Path(codex.metadata("d-1")["worktree"])
    assert not (worktree / "denied.txt").exists()
