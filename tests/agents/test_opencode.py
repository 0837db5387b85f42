"""OpenCode under ``ao``: recorded screens and logs (fast), end to end against ``fakechat``.

The end-to-end tests run the real ``opencode`` TUI (scripts/install-more-agents.sh) in a
private tmux server. OpenCode's user config (one per test run, shared by the tests so its
plugin packages are installed once) defines a ``fake`` provider whose base URL comes from
``$FAKE_CHAT_URL``.
"""

from __future__ import annotations

import json
import os
import signal
import time
import typing as t
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from ao_plugins.agent_opencode import OpenCodeAgent, native, screen

from ao.sdk.contracts import LaunchContext, Observation, PaneState
from ao.sdk.errors import UsageError

from . import fakemodel as fm
from .conftest import Harness, agent_bin, require_cli, wait_for
from .fakechat import INPUT_TOKENS, OUTPUT_TOKENS, FakeChat, kill_panes, register_agents

SCREENS = Path(__file__).parent / "screens_more"
TASK = 'Write hello.txt — it says "hi".\n\tKeep $HOME and `ticks` literal; 日本 🚀\nThanks.'
E2E = [pytest.mark.agents, pytest.mark.tmux, pytest.mark.slow, pytest.mark.timeout(240)]


def load(name: str) -> str:
    return (SCREENS / f"{name}.txt").read_text(encoding="utf-8")


# ----------------------------------------------------------------------------- screens


@pytest.mark.parametrize(
    ("name", "state", "detail"),
    [
        ("opencode-idle", "ready", "prompt is idle"),
        ("opencode-done", "ready", "prompt is idle"),
        ("opencode-resumed", "ready", "prompt is idle"),
        ("opencode-busy", "working", "busy: esc interrupt"),
        ("opencode-permission-bash", "needs_input", "permission prompt: $ echo allowed > perm.txt"),
        ("opencode-quota", "blocked", "usage limit reached: You exceeded your current quota"),
        # the 401 text is a transcript line, not chrome: the log makes it blocked
        ("opencode-auth", "ready", "prompt is idle"),
        ("opencode-bad-request", "ready", "prompt is idle"),  # likewise for any error
    ],
)
def test_screen(name: str, state: str, detail: str) -> None:
    reading = screen.read(load(name))
    assert reading is not None
    assert (reading.state, reading.detail.startswith(detail)) == (state, True), reading


def test_sidebar_title_is_not_chrome() -> None:
    """The session title (written by the model) sits in the sidebar; it never matches."""
    text = load("opencode-done").replace("Fake title", "△ Permission required esc interrupt")
    assert screen.read(text) == screen.Reading("ready", "prompt is idle")


@pytest.mark.parametrize(
    ("text", "keys"),
    [("1", ("Enter",)), ("yes", ("Enter",)), (" No ", ("Escape",)), ("3", ("Escape",)),
     ("reject", ("Escape",)), ("always", ("Right", "Enter", "Enter"))],
)  # fmt: skip
def test_permission_answers_are_keys(text: str, keys: tuple[str, ...]) -> None:
    assert OpenCodeAgent().answer_keys(load("opencode-permission-bash"), text) == keys


def test_text_for_the_permission_prompt_is_refused_not_typed() -> None:
    """Typed and submitted, any text would pick the highlighted "Allow once"."""
    with pytest.raises(UsageError, match="takes no text"):
        OpenCodeAgent().answer_keys(load("opencode-permission-bash"), "use a.txt instead")
    assert OpenCodeAgent().answer_keys(load("opencode-idle"), "no") is None  # no prompt


# ----------------------------------------------------------------------------- native


def _stamp(at: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(at))


def _line(
    message: str, level: str = "INFO", run: str = "r1", at: float | None = None, **fields: str
) -> str:
    stamp = _stamp(at)
    extra = " ".join(f"{k.replace('_', '.')}={json.dumps(v) if ' ' in v else v}"
                     for k, v in fields.items())  # fmt: skip
    return f"timestamp={stamp} level={level} run={run} message={json.dumps(message) if ' ' in message else message} {extra}\n"


def test_log_turns(tmp_path: Path) -> None:
    log = tmp_path / "opencode" / "log" / "opencode.log"
    log.parent.mkdir(parents=True)

    def write(line: str) -> None:
        with log.open("a") as fh:
            fh.write(line)

    write(_line("creating instance", directory="/w"))
    assert native.turn_state(log).state == "loading"
    write(_line("booting location services", directory="/w"))
    assert native.turn_state(log).state == "idle"
    write(_line("process", session_id="ses_1", messageID="m1"))
    write(_line("stream", session_id="ses_1"))
    assert native.turn_state(log).state == "running"
    write(_line("asking", id="per_1", permission="bash", patterns='["echo hi"]'))
    turn = native.turn_state(log)
    assert (turn.state, turn.session_id) == ("asking", "ses_1") and "bash" in turn.detail
    write(_line("loop", session_id="ses_1", step="1"))
    write(_line("exiting loop", session_id="ses_1"))
    assert native.turn_state(log).state == "finished"
    write(
        _line(
            "stream error", "ERROR", error_error="AI_APICallError: You exceeded your current quota"
        )
    )
    assert native.turn_state(log).state == "blocked"
    write(_line("stream", session_id="ses_1"))  # the retry of a quota error stays blocked
    assert native.turn_state(log).state == "blocked"
    write(_line("process", "ERROR", session_id="ses_1", error="Incorrect API key provided: sk"))
    assert native.turn_state(log).detail.startswith("authentication failed")
    # a new process: its own lines only; before it writes any, the session is loading
    assert native.turn_state(log, started=time.time() + 60).state == "loading"
    write(_line("booting location services", run="r2"))
    assert native.turn_state(log).state == "idle"
    assert native.turn_state(log).session_id == "ses_1"  # still known for resume


BAD = "Invalid request: the scripted model refuses this request."
NO_KEY = ("Anthropic API key is missing. Pass it using the 'apiKey' parameter or the "
          "ANTHROPIC_API_KEY environment variable.")  # fmt: skip


@pytest.mark.parametrize(
    ("stream", "final", "reason"),
    [
        (f"AI_APICallError: {BAD}", BAD, f"the last turn failed: {BAD}"),
        ("AI_APICallError: The model `fake-model` does not exist or you do not have access to it.",
         "The model `fake-model` does not exist or you do not have access to it.",
         "the last turn failed: The model `fake-model` does not exist"),
        (f"AI_LoadAPIKeyError: {NO_KEY}", NO_KEY, "authentication failed: Anthropic API key is"),
    ],
)  # fmt: skip
def test_failed_turn_is_blocked_until_a_later_turn(
    tmp_path: Path, stream: str, final: str, reason: str
) -> None:
    log = tmp_path / "opencode" / "log" / "opencode.log"
    log.parent.mkdir(parents=True)
    log.write_text(_line("booting location services") + _line("process", session_id="s")
                   + _line("stream", session_id="s")
                   + _line("stream error", "ERROR", session_id="s", error_error=stream)
                   + _line("process", "ERROR", session_id="s", error=final))  # fmt: skip
    meta = {"agent_home": str(tmp_path)}
    pane = PaneState(alive=True, running=True, pid=1, current_command="opencode")
    seen = OpenCodeAgent().activity(Observation(pane, load("opencode-bad-request"), meta))
    assert (seen.state, seen.evidence.source) == ("blocked", "native:log"), seen
    assert seen.evidence.detail.startswith(reason), seen
    with log.open("a") as fh:  # the user's next turn goes through
        fh.write(_line("process", session_id="s") + _line("stream", session_id="s")
                 + _line("loop", session_id="s") + _line("exiting loop", session_id="s"))  # fmt: skip
    assert OpenCodeAgent().activity(Observation(pane, load("opencode-done"), meta)).state == "ready"


def test_retried_error_is_working_and_an_interrupted_turn_ready(tmp_path: Path) -> None:
    log = tmp_path / "opencode" / "log" / "opencode.log"
    log.parent.mkdir(parents=True)
    log.write_text(_line("booting location services") + _line("process", session_id="s")
                   + _line("stream error", "ERROR", session_id="s",
                           error_error="AI_APICallError: The server is overloaded."))  # fmt: skip
    turn = native.turn_state(log)
    assert (turn.state, turn.detail) == (
        "running",
        "retrying after an error: The server is overloaded.",
    )
    # Escape twice: OpenCode logs the cancel, then the step it aborted
    cancel = _line("cancel", session_id="s")
    aborted = _line("process", "ERROR", session_id="s", error="Aborted", stack="undefined")
    with log.open("a") as fh:
        fh.write(cancel + aborted)
    turn = native.turn_state(log)
    assert (turn.state, turn.detail) == ("finished", "the turn was interrupted")
    with log.open("a") as fh:  # and the next turn's failure blocks again
        fh.write(_line("process", session_id="s")
                 + _line("process", "ERROR", session_id="s", error=BAD))  # fmt: skip
    assert native.turn_state(log).state == "blocked"


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_log_lines_of_opencode_export_do_not_hide_the_tui(tmp_path: Path) -> None:
    """Recorded at load 11: `ao status` ran `opencode export`, whose start-up lines (its own
    run) landed after the TUI's finished turn. Read as "the newest run", the session fell
    back from working to "starting: no prompt yet" and never reached ready."""
    recorded = (SCREENS / "opencode-log-export-after-turn.log").read_text(encoding="utf-8")
    lines = recorded.splitlines(keepends=True)
    started = _epoch(native.parse(lines[0])["timestamp"]) - 0.5  # the TUI process's start
    log = tmp_path / "opencode.log"
    log.write_text(recorded)
    for when in (started, None):
        turn = native.turn_state(log, when)
        assert (turn.state, turn.detail) == ("finished", "the turn is over"), (when, turn)
        assert turn.session_id == "ses_db9179c34ffeX45rM2BHKomqdu"
    # mid-turn: the export's lines right after the model step started
    step = next(i for i, line in enumerate(lines) if "message=process " in line)
    exports = [line for line in lines if "run=37aa2bb4" not in line]
    log.write_text("".join(lines[: step + 2] + exports))
    assert native.turn_state(log, started).state == "running"
    # before the TUI's first conversation line, only the export's lines say nothing
    boot = next(i for i, line in enumerate(lines) if "loop session.id" in line)
    log.write_text("".join(lines[:boot] + exports))
    assert (native.turn_state(log, started).state, native.turn_state(log).state) == (
        "loading",
        "loading",
    )


def test_restored_tui_is_read_even_when_an_export_writes_first(tmp_path: Path) -> None:
    """After `ao restore` the session id is known at once, so `ao status` may start an
    export before the new TUI has written anything: the TUI's run is still the one read."""
    log = tmp_path / "opencode" / "log" / "opencode.log"
    log.parent.mkdir(parents=True)
    earlier = time.time() - 30
    log.write_text("".join(_line(m, run="old", at=earlier, session_id="ses_1")
                           for m in ("process", "exiting loop")))  # fmt: skip
    started = time.time() - 5

    def append(*lines: str) -> None:
        with log.open("a") as fh:
            fh.writelines(lines)

    append(_line("creating instance", run="new"), _line("creating instance", run="export"))
    assert native.turn_state(log, started).state == "loading"  # the old run is not this one
    append(_line("booting location services", run="new"), _line("init", run="export"))
    turn = native.turn_state(log, started)
    assert (turn.state, turn.session_id) == ("idle", "ses_1")
    append(_line("loop", run="new", session_id="ses_1", step="0"), _line("init", run="export"))
    assert native.turn_state(log, started).detail == "model step (loop)"
    append(_line("exiting loop", run="new", session_id="ses_1"), _line("x", run="export2"))
    assert native.turn_state(log, started).state == "finished"


def test_a_line_still_being_written_is_not_read(tmp_path: Path) -> None:
    """Cut short, `error="…Incorrect API k` is no auth error: the turn would read as ended."""
    log = tmp_path / "opencode.log"
    full = _line("process", "ERROR", session_id="ses_1", error="Incorrect API key provided: sk")
    log.write_text(_line("booting location services") + _line("process", session_id="ses_1"))
    with log.open("a") as fh:
        fh.write(full[: full.index("API key") + 5])
    turn = native.turn_state(log)
    assert (turn.state, turn.detail) == ("running", "model step (process)")
    with log.open("a") as fh:
        fh.write(full[full.index("API key") + 5 :])
    assert native.turn_state(log).detail.startswith("authentication failed")


def test_the_tui_run_is_found_beyond_the_first_tail_read(tmp_path: Path) -> None:
    """More than 128 kB of other runs' lines after the turn: the read goes further back."""
    log = tmp_path / "opencode.log"
    noise = "".join(_line("init", run=f"x{i}", directory="/" + "d" * 200) for i in range(800))
    assert len(noise) > 128 * 1024  # the first read
    log.write_text(_line("booting location services") + _line("exiting loop") + noise)
    assert native.turn_state(log).state == "finished"
    assert native.turn_state(log, time.time() - 60).state == "finished"


def test_log_path_skips_a_log_removed_while_listing(tmp_path: Path) -> None:
    logs = tmp_path / "opencode" / "log"
    logs.mkdir(parents=True)
    (logs / "opencode.log").write_text(_line("booting location services"))
    (logs / "2026-01-01T000000.log").symlink_to(logs / "gone.log")  # stat fails like a race
    assert native.log_path(tmp_path) == logs / "opencode.log"


def test_launch_config_and_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user = tmp_path / "home" / ".local" / "share" / "opencode"
    user.mkdir(parents=True)
    (user / "auth.json").write_text('{"openai": {"type": "api", "key": "k"}}')
    (user / "opencode.db").write_text("")
    worktree = tmp_path / "wt"
    worktree.mkdir()
    ctx = LaunchContext("d-1", worktree, "fix it", rules="be brief", state_dir=tmp_path / "s",
                        model="fake/fake-model")  # fmt: skip
    spec = OpenCodeAgent().launch(ctx)
    assert spec.argv == ["opencode", "--model", "fake/fake-model", "--prompt=fix it"]
    assert spec.prompt_delivery == "argv"
    config = json.loads(Path(spec.env["OPENCODE_CONFIG"]).read_text())
    assert config["permission"] == {"edit": "ask", "bash": "ask", "webfetch": "ask"}
    assert Path(config["instructions"][0]).read_text() == "be brief\n"
    data = Path(spec.env["XDG_DATA_HOME"]) / "opencode"
    assert (data / "auth.json").is_symlink() and not (data / "opencode.db").exists()
    assert not list(worktree.iterdir())
    bypass = OpenCodeAgent().launch(LaunchContext("d-1", worktree, "", permissions="bypass",
                                                  state_dir=tmp_path / "s"))  # fmt: skip
    assert "--auto" in bypass.argv and bypass.prompt_delivery == "none"
    assert OpenCodeAgent().auth().kind == "api-key"


def test_activity_order(tmp_path: Path) -> None:
    log = tmp_path / "opencode" / "log" / "opencode.log"
    log.parent.mkdir(parents=True)
    log.write_text(_line("booting location services") + _line("process", session_id="s")
                   + _line("asking", id="per_1", permission="bash"))  # fmt: skip
    meta = {"agent_home": str(tmp_path)}
    pane = PaneState(alive=True, running=True, pid=1, current_command="opencode")
    agent = OpenCodeAgent()
    asked = agent.activity(Observation(pane, None, meta))
    assert (asked.state, asked.evidence.source) == ("needs_input", "native:log")
    shown = agent.activity(Observation(pane, load("opencode-permission-bash"), meta))
    assert (shown.state, shown.evidence.source) == ("needs_input", "screen")
    answered = agent.activity(Observation(pane, load("opencode-busy"), meta))
    assert answered.state == "working"
    rejected = agent.activity(Observation(pane, load("opencode-idle"), meta))  # no log line
    assert (rejected.state, rejected.evidence.source) == ("ready", "screen")


# ----------------------------------------------------------------------------- end to end


@pytest.fixture(scope="session")
def opencode_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An XDG_CONFIG_HOME whose opencode.json defines the fake provider (shared by tests)."""
    base = tmp_path_factory.mktemp("opencode-config")
    (base / "opencode").mkdir()
    config = {
        "$schema": "https://opencode.ai/config.json",
        "provider": {"fake": {"npm": "@ai-sdk/openai-compatible", "name": "Fake",
                              "options": {"baseURL": "{env:FAKE_CHAT_URL}", "apiKey": "sk-fake"},
                              "models": {"fake-model": {"name": "Fake model"}}}},
        "model": "fake/fake-model", "autoupdate": False, "share": "disabled",
    }  # fmt: skip
    (base / "opencode" / "opencode.json").write_text(json.dumps(config, indent=2))
    return base


@pytest.fixture
def chat() -> Iterator[FakeChat]:
    server = FakeChat().start()
    yield server
    server.close()


@pytest.fixture
def opencode(
    harness: Harness,
    chat: FakeChat,
    opencode_config: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[Harness]:
    require_cli("opencode")
    register_agents(tmp_path / "eps", monkeypatch)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(opencode_config))
    monkeypatch.setenv("FAKE_CHAT_URL", chat.base_url)
    monkeypatch.setenv("OPENCODE_DISABLE_MODELS_FETCH", "1")  # no network: skip models.dev
    for var in ("OPENCODE_CONFIG", "XDG_DATA_HOME", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    harness.chat = chat  # type: ignore[attr-defined]
    harness.configure("opencode")
    yield harness
    kill_panes(harness.server)


def prompts(req: object) -> list[str]:
    """The user's prompts in a chat request (text parts of user messages)."""
    out = []
    for message in getattr(req, "body", {}).get("messages", []):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        parts = [content] if isinstance(content, str) else [
            c.get("text", "") for c in content or [] if isinstance(c, dict)
        ]  # fmt: skip
        out += [p for p in parts if p and not p.lstrip().startswith("<")]
    return out


@pytest.mark.usefixtures("opencode")
class TestEndToEnd:
    pytestmark = E2E

    def test_turn_lifecycle_file_tokens_and_first_prompt(self, opencode: Harness) -> None:
        chat: FakeChat = opencode.chat  # type: ignore[attr-defined]
        chat.script(
            fm.write_file("hello.txt", "hi from opencode\n", delay=3),
            fm.text("I wrote hello.txt.", delay=1),
        )
        opencode.configure("opencode", permissions="accept-edits")
        started = time.monotonic()
        r = opencode.ao("new", TASK)
        assert r.returncode == 0, r.stderr
        working = opencode.wait_activity("d-1", "working", timeout=60)
        assert working["evidence"]["source"] == "native:log", working  # type: ignore[index]
        ready = opencode.wait_activity("d-1", "ready", timeout=60)
        assert ready["evidence"]["source"] == "native:log", ready  # type: ignore[index]
        assert "turn is over" in ready["evidence"]["detail"]  # type: ignore[index]
        assert time.monotonic() - started >= 4
        assert all(prompts(r) == [TASK] for r in chat.main_requests()), chat.main_requests()
        meta = opencode.metadata("d-1")
        assert (Path(meta["worktree"]) / "hello.txt").read_text() == "hi from opencode\n"
        (row,) = t.cast(list[dict[str, str]], opencode.ok("list"))
        assert row["activity"] == "ready"
        info = OpenCodeAgent().session_info(meta)
        assert info.native_session_id and info.native_session_id.startswith("ses_")
        assert info.input_tokens == 2 * INPUT_TOKENS and info.output_tokens == 2 * OUTPUT_TOKENS
        assert info.cost_usd == 0  # a custom provider without prices

    def test_permission_prompt_is_needs_input_until_answered(self, opencode: Harness) -> None:
        chat: FakeChat = opencode.chat  # type: ignore[attr-defined]
        chat.script(fm.needs_permission("echo allowed > perm.txt"), fm.text("Ran it."))
        assert opencode.ao("new", "run the command").returncode == 0
        asked = opencode.wait_activity("d-1", "needs_input", timeout=60)
        assert "permission" in asked["evidence"]["detail"], asked  # type: ignore[index]

        def listed() -> bool:  # `ao list` reads the log alone; OpenCode flushes it lazily
            (row,) = t.cast(list[dict[str, str]], opencode.ok("list"))
            return row["activity"] == "needs_input"

        wait_for(listed, 10, "ao list to show needs_input")
        time.sleep(3)
        assert opencode.status("d-1")["activity"] == "needs_input", opencode.screen("d-1")
        sent = opencode.ok("send", "d-1", "1")  # ignored by the menu; Enter = "Allow once"
        assert sent["status"] == "delivered", sent  # type: ignore[index]
        opencode.wait_activity("d-1", "ready", timeout=40)
        worktree = Path(opencode.metadata("d-1")["worktree"])
        assert (worktree / "perm.txt").read_text().strip() == "allowed"

    def test_no_rejects_the_permission_prompt(self, opencode: Harness) -> None:
        """ "no" typed into OpenCode's menu would allow the command: it must press Escape."""
        chat: FakeChat = opencode.chat  # type: ignore[attr-defined]
        chat.script(fm.needs_permission("echo allowed > perm.txt"), fm.text("Understood."))
        assert opencode.ao("new", "run the command").returncode == 0
        opencode.wait_activity("d-1", "needs_input", timeout=60)
        refused = opencode.ao("send", "d-1", "please use b.txt")
        assert refused.returncode != 0 and "takes no text" in refused.stderr, refused
        sent = opencode.ok("send", "d-1", "no")
        assert sent["status"] == "delivered" and "Escape" in sent["detail"], sent  # type: ignore[index]
        opencode.wait_activity("d-1", "ready", timeout=40)
        worktree = Path(opencode.metadata("d-1")["worktree"])
        assert not (worktree / "perm.txt").exists()

    def test_restore_resumes_the_same_conversation(self, opencode: Harness) -> None:
        chat: FakeChat = opencode.chat  # type: ignore[attr-defined]
        chat.script(fm.text("First answer."), fm.text("Second answer."))
        assert opencode.ao("new", "remember the word PELICAN").returncode == 0
        opencode.wait_activity("d-1", "ready", timeout=60)
        wait_for(lambda: chat.turns_served() >= 1, 30, "the first turn")
        os.killpg(opencode.pane_pid("d-1"), signal.SIGTERM)
        opencode.wait_activity("d-1", "exited", timeout=15)
        r = opencode.ao("restore", "d-1")
        assert r.returncode == 0, r.stderr
        opencode.wait_activity("d-1", "ready", timeout=60)
        sent = opencode.ok("send", "d-1", "what was the word?")
        assert sent["status"] == "delivered", sent  # type: ignore[index]
        wait_for(lambda: chat.turns_served() >= 2, 40, "the resumed turn")
        last = chat.main_requests()[-1]
        assert prompts(last) == ["remember the word PELICAN", "what was the word?"]
        assert "First answer." in last.text()

    def test_long_task_is_pasted_intact(self, opencode: Harness) -> None:
        chat: FakeChat = opencode.chat  # type: ignore[attr-defined]
        task = "Summarise these notes.\n" + "\n".join(
            f"{i:04d} línea $x `y` \\ «ok»" for i in range(400)
        )
        r = opencode.ao("new", task, timeout=120)
        assert r.returncode == 0, r.stderr
        assert opencode.metadata("d-1")["prompt_delivery"] == "delivered"
        wait_for(chat.main_requests, 40, "the pasted prompt to reach the model")
        (sent,) = prompts(chat.main_requests()[0])
        assert sent.rstrip(" ") == task  # OpenCode appends a space to a paste it expands

    def test_auth_error_is_blocked(self, opencode: Harness) -> None:
        opencode.chat.script(fm.auth_error())  # type: ignore[attr-defined]
        assert opencode.ao("new", "hello").returncode == 0
        blocked = opencode.wait_activity("d-1", "blocked", timeout=60)
        assert "authentication failed" in blocked["evidence"]["detail"], blocked  # type: ignore[index]
        assert blocked["evidence"]["source"] == "native:log"  # type: ignore[index]

    def test_missing_key_is_blocked_until_restored_with_it(
        self, opencode: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A built-in provider (Anthropic, at the fake) with no ANTHROPIC_API_KEY: the turn
        fails ("API key is missing"), blocked, never ready; set it and `ao restore`."""
        config = {"$schema": "https://opencode.ai/config.json",
                  "provider": {"anthropic": {"options": {"baseURL": f"{opencode.fake.url}/v1"}}},
                  "model": "anthropic/claude-sonnet-4-5", "autoupdate": False,
                  "share": "disabled"}  # fmt: skip
        (tmp_path / "xdg" / "opencode").mkdir(parents=True)
        (tmp_path / "xdg" / "opencode" / "opencode.json").write_text(json.dumps(config))
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
        monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
        opencode.fake.script(fm.text("Back again."))
        assert opencode.ao("new", "hello").returncode == 0
        opencode.blocked("d-1", "authentication failed: Anthropic API key is missing")
        assert opencode.fake.main_requests() == []  # it never reached the model
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-fake")
        opencode.recovers("d-1", opencode.fake)

    @pytest.mark.parametrize(
        ("step", "reason"),
        [(fm.bad_request(), "the last turn failed: Invalid request: the scripted model"),
         (fm.model_not_found(), "the last turn failed: The model `fake-model` does not")],
        ids=["400", "404"],
    )  # fmt: skip
    def test_request_error_is_blocked(self, opencode: Harness, step: fm.Step, reason: str) -> None:
        opencode.chat.script(step)  # type: ignore[attr-defined]
        assert opencode.ao("new", "hello").returncode == 0
        doc = opencode.blocked("d-1", reason)
        assert doc["evidence"]["source"] == "native:log"  # type: ignore[index]

    def test_auth_error_recovers_after_restore(self, opencode: Harness) -> None:
        chat: FakeChat = opencode.chat  # type: ignore[attr-defined]
        chat.script(fm.auth_error())
        assert opencode.ao("new", "hello").returncode == 0
        opencode.blocked("d-1", "authentication failed")
        chat.script(fm.text("Back again."))  # the key is good again
        opencode.recovers("d-1", chat)

    def test_usage_limit_is_blocked(self, opencode: Harness) -> None:
        opencode.chat.script(fm.usage_limit())  # type: ignore[attr-defined]
        assert opencode.ao("new", "hello").returncode == 0
        blocked = opencode.wait_activity("d-1", "blocked", timeout=60)
        assert "usage limit reached" in blocked["evidence"]["detail"], blocked  # type: ignore[index]


def test_version() -> None:
    if agent_bin("opencode") is None:
        pytest.skip("opencode is not installed")
    version = OpenCodeAgent().version()
    assert version is not None and version.startswith("1.")
