"""The notifier plugins against real receivers.

HTTP notifiers post to local HTTP servers on 127.0.0.1 (``tests/fake_notifyd.Receiver``)
that assert exact payloads and headers and script failures (5xx, 429, hangs). The
desktop notifier runs the real ``notify-send`` on a private D-Bus session bus where a
fake notification daemon (``tests/fake_notifyd.py``) records what arrived.
"""

from __future__ import annotations

import dataclasses
import email.header
import hashlib
import hmac
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import typing as t
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ao.registry import load
from ao.sdk.contracts import Notification
from ao.sdk.errors import AoError, CommandError, PluginError
from tests.conftest import RunAo
from tests.fake_notifyd import Answer, Receiver

NOTE = Notification(
    title="CI failed \x1b[31mred\x1b[0m",
    message="Tests failed on <!channel> & main\n\x07bell",
    priority="warning",
    session="ao-3",
    project="demo",
    data={"url": "https://github.com/o/r/pull/7", "checks": ["lint\x1b[2J"]},
)
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

MakeReceiver = Callable[..., Receiver]


@pytest.fixture
def receiver() -> Iterator[MakeReceiver]:
    """Start local HTTP receivers: ``receiver(Answer(...), ..., default=Answer(...))``."""
    made: list[Receiver] = []

    def make(*answers: Answer, default: Answer | None = None) -> Receiver:
        rec = Receiver(*answers, default=default).start()
        made.append(rec)
        return rec

    yield make
    for rec in made:
        rec.stop()


def notifier(plugin: str, **options: t.Any) -> t.Any:
    """A notifier loaded the way ao loads it: by entry point, with options."""
    return load("notifier", plugin, options)


# ----------------------------------------------------------------------------- slack


def test_slack_posts_block_kit_with_escaped_untrusted_text(receiver: MakeReceiver) -> None:
    rec = receiver()
    notifier("slack", url=f"{rec.url}/services/T0/B0/XYZ", username="ao-bot").notify(NOTE)

    [req] = rec.requests
    assert (req.method, req.path) == ("POST", "/services/T0/B0/XYZ")
    assert req.headers["content-type"] == "application/json"
    assert req.headers["user-agent"].startswith("ao/")
    message = "Tests failed on &lt;!channel&gt; &amp; main\nbell"
    assert req.json() == {
        "text": f"CI failed red: {message}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "CI failed red"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": message}},
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": "*warning* · session `ao-3` · project `demo`"}
                ],
            },
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open"},
                        "url": "https://github.com/o/r/pull/7",
                    }
                ],
            },
        ],
        "username": "ao-bot",
    }


def test_slack_text_only_and_webhook_url_alias(receiver: MakeReceiver) -> None:
    rec = receiver()
    plain = Notification(title="Done", message="", priority="info")
    notifier("slack", webhookUrl=rec.url + "/hook", blocks=False).notify(plain)
    assert rec.requests[0].json() == {"text": "Done"}


def test_slack_cuts_long_messages_without_splitting_an_entity(receiver: MakeReceiver) -> None:
    rec = receiver()
    notifier("slack", url=rec.url).notify(Notification(title="t", message="<" * 5000))
    section = rec.requests[0].json()["blocks"][1]["text"]["text"]
    assert len(section) <= 3000
    assert section.endswith("&lt;…")


# ----------------------------------------------------------------------------- discord


def test_discord_posts_one_embed_with_mentions_disabled(receiver: MakeReceiver) -> None:
    rec = receiver(default=Answer(204, b""))
    notifier("discord", url=f"{rec.url}/api/webhooks/1/tok", threadId="99").notify(NOTE)

    [req] = rec.requests
    assert req.path == "/api/webhooks/1/tok?thread_id=99"
    body = req.json()
    embed = body["embeds"][0]
    assert ISO_MS.match(embed.pop("timestamp"))
    assert body == {
        "embeds": [
            {
                "title": "CI failed red",
                "color": 0xF39C12,
                "fields": [
                    {"name": "Priority", "value": "warning", "inline": True},
                    {"name": "Session", "value": "ao-3", "inline": True},
                    {"name": "Project", "value": "demo", "inline": True},
                ],
                "description": "Tests failed on <!channel> & main\nbell",
                "url": "https://github.com/o/r/pull/7",
            }
        ],
        "allowed_mentions": {"parse": []},
    }


def test_discord_waits_out_429_retry_after_then_succeeds(receiver: MakeReceiver) -> None:
    limited = Answer(
        429,
        b'{"message": "You are being rate limited.", "retry_after": 0.4}',
        {"Retry-After": "0.4", "Content-Type": "application/json"},
    )
    rec = receiver(limited, default=Answer(204, b""))
    notifier("discord", url=rec.url + "/wh", timeout=5, retryDelay=0.01).notify(NOTE)

    first, second = rec.requests
    assert second.at - first.at >= 0.4  # honoured Retry-After, not the 0.01s backoff
    assert first.body == second.body


def test_discord_429_beyond_the_time_budget_fails_at_once(receiver: MakeReceiver) -> None:
    rec = receiver(default=Answer(429, b"{}", {"Retry-After": "30"}))
    started = time.monotonic()
    with pytest.raises(AoError, match=r"HTTP 429.*retry after 30s"):
        notifier("discord", url=rec.url + "/wh", timeout=2).notify(NOTE)
    assert time.monotonic() - started < 1.5
    assert len(rec.requests) == 1


# ----------------------------------------------------------------------------- webhook


def test_webhook_envelope_and_hmac_signature(receiver: MakeReceiver) -> None:
    rec = receiver()
    secret = "s3cr3t-from-env"
    notifier(
        "webhook", url=rec.url + "/ao", secret=secret, headers={"Authorization": "Bearer abc"}
    ).notify(NOTE)

    [req] = rec.requests
    assert req.headers["content-type"] == "application/json"
    assert req.headers["authorization"] == "Bearer abc"
    expected = "sha256=" + hmac.new(secret.encode(), req.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(req.headers["x-ao-signature"], expected)
    envelope = req.json()
    assert list(envelope) == [
        "v", "type", "event", "id", "ts", "priority", "title", "message", "session", "project",
        "data",
    ]  # fmt: skip
    assert uuid.UUID(envelope.pop("id"))
    assert ISO_MS.match(envelope.pop("ts"))
    assert envelope == {
        "v": 1,
        "type": "notification",
        "event": None,  # this notification is about no vocabulary event
        "priority": "warning",
        "title": "CI failed red",
        "message": "Tests failed on <!channel> & main\nbell",
        "session": "ao-3",
        "project": "demo",
        "data": {"url": "https://github.com/o/r/pull/7", "checks": ["lint"]},
    }


def test_every_http_notifier_names_the_event_type(receiver: MakeReceiver) -> None:
    """A notification about a vocabulary event carries its type: the webhook envelope's
    top-level ``event`` (the v1 contract, additive), Slack's context line, a Discord
    field, an ntfy tag; a ``data.event`` that is not a type is not echoed."""
    note = Notification(
        title="ao: ao-3 — ci-failed", message="red", priority="warning", session="ao-3",
        data={"reaction": "ci-failed", "kind": "escalate", "event": "ci.fix_failed"},
    )  # fmt: skip
    hook, slack, discord, ntfy = receiver(), receiver(), receiver(), receiver()
    notifier("webhook", url=hook.url).notify(note)
    notifier("slack", url=slack.url).notify(note)
    notifier("discord", url=discord.url).notify(note)
    notifier("ntfy", server=ntfy.url, topic="t").notify(note)

    body = hook.requests[0].json()
    assert (body["v"], body["type"], body["event"]) == (1, "notification", "ci.fix_failed")
    assert body["data"]["event"] == "ci.fix_failed"  # as before, kept
    context = slack.requests[0].json()["blocks"][-1]["elements"][0]["text"]
    assert context == "*warning* · session `ao-3` · `ci.fix_failed`"
    fields = discord.requests[0].json()["embeds"][0]["fields"]
    assert {"name": "Event", "value": "ci.fix_failed", "inline": True} in fields
    assert ntfy.requests[0].headers["x-tags"] == "warning,ci.fix_failed"

    odd = dataclasses.replace(note, data={"event": "<!channel> ping"})
    notifier("webhook", url=hook.url).notify(odd)
    notifier("ntfy", server=ntfy.url, topic="t").notify(odd)
    assert hook.requests[1].json()["event"] is None
    assert ntfy.requests[1].headers["x-tags"] == "warning"


def test_webhook_unsigned_without_secret(receiver: MakeReceiver) -> None:
    rec = receiver()
    notifier("webhook", url=rec.url).notify(Notification(title="hi", message="there"))
    assert "x-ao-signature" not in rec.requests[0].headers


def test_webhook_retries_5xx_with_backoff_keeping_the_same_id(receiver: MakeReceiver) -> None:
    rec = receiver(Answer(503, b"busy"), Answer(502, b"bad gateway"))
    notifier("webhook", url=rec.url, secret="k", retryDelay=0.1).notify(NOTE)

    assert len(rec.requests) == 3
    assert len({r.body for r in rec.requests}) == 1  # one delivery id, retried
    gaps = [b.at - a.at for a, b in zip(rec.requests, rec.requests[1:], strict=False)]
    assert gaps[0] >= 0.1 and gaps[1] >= 0.2  # exponential backoff


def test_webhook_gives_up_after_its_retries(receiver: MakeReceiver) -> None:
    rec = receiver(default=Answer(500, b"boom"))
    with pytest.raises(AoError, match=r"failed after 3 attempts.*HTTP 500: boom"):
        notifier("webhook", url=rec.url, retries=2, retryDelay=0.01).notify(NOTE)
    assert len(rec.requests) == 3


def test_webhook_4xx_is_not_retried_and_errors_hide_secrets(receiver: MakeReceiver) -> None:
    token = "TOKEN-abcdef123456"
    url_echo = f"no route for /hooks/{token}?sig=topsecret"
    rec = receiver(default=Answer(404, url_echo.encode()))
    url = f"{rec.url}/hooks/{token}?sig=topsecret"
    with pytest.raises(AoError) as caught:
        notifier("webhook", url=url, headers={"X-Api-Key": "key-9876543210"}).notify(NOTE)
    text = str(caught.value)
    assert len(rec.requests) == 1
    assert "HTTP 404" in text and f"{rec.url}/…" in text
    assert token not in text and "topsecret" not in text


def test_webhook_connection_refused_is_retried_then_reported(receiver: MakeReceiver) -> None:
    rec = receiver()
    url = rec.url + "/gone"
    rec.stop()
    with pytest.raises(AoError, match=r"failed after 2 attempts.*ConnectError") as caught:
        notifier("webhook", url=url, retries=1, retryDelay=0.01).notify(NOTE)
    assert "/gone" not in str(caught.value)


def test_webhook_timeout_bounds_a_hanging_receiver(receiver: MakeReceiver) -> None:
    rec = receiver(default=Answer(hang=True))
    started = time.monotonic()
    with pytest.raises(AoError, match=r"within 1s.*Timeout"):
        notifier("webhook", url=rec.url, timeout=1).notify(NOTE)
    assert time.monotonic() - started < 2.0


# ----------------------------------------------------------------------------- ntfy


@pytest.mark.parametrize(
    ("priority", "level", "tag"),
    [
        ("urgent", "5", "rotating_light"),
        ("action", "4", "point_right"),
        ("warning", "3", "warning"),
        ("info", "2", "information_source"),
    ],
)
def test_ntfy_publishes_with_priority_title_and_token(
    receiver: MakeReceiver, priority: str, level: str, tag: str
) -> None:
    rec = receiver()
    note = Notification(
        title="PR #7 ready",
        message="All checks \x1b[32mgreen\x1b[0m",
        priority=t.cast(t.Any, priority),
        session="ao-3",
        data={"prUrl": "https://github.com/o/r/pull/7"},
    )
    notifier("ntfy", server=rec.url + "/", topic="ao-alerts", token="tk_secret").notify(note)

    [req] = rec.requests
    assert req.path == "/ao-alerts"
    assert req.body == b"All checks green"
    assert req.headers["x-title"] == "PR #7 ready [ao-3]"
    assert req.headers["x-priority"] == level
    assert req.headers["x-tags"] == tag
    assert req.headers["x-click"] == "https://github.com/o/r/pull/7"
    assert req.headers["authorization"] == "Bearer tk_secret"


def test_ntfy_non_ascii_title_travels_as_rfc2047(receiver: MakeReceiver) -> None:
    rec = receiver()
    title = "Müller’s PR ✅ merged"
    notifier("ntfy", server=rec.url, topic="t1").notify(Notification(title=title, message="ü"))
    [req] = rec.requests
    [(raw, charset)] = email.header.decode_header(req.headers["x-title"])
    assert isinstance(raw, bytes) and raw.decode(charset or "ascii") == title
    assert req.body == "ü".encode()
    assert "authorization" not in req.headers


# ----------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("plugin", "options", "message"),
    [
        ("webhook", {"url": "http://x", "secert": "k"}, "unknown option 'secert'; did you mean"),
        ("webhook", {}, "needs option 'url'"),
        ("webhook", {"url": "http://x", "headers": {"X-Key": "tök"}}, "printable ASCII"),
        ("slack", {"url": "ftp://x"}, "must be an http"),
        ("ntfy", {"topic": "a/b"}, "needs option 'topic'"),
        ("discord", {"url": "http://x", "timeout": "soon"}, "must be a number"),
        ("desktop", {"sond": False}, "unknown option 'sond'"),
    ],
)
def test_bad_options_fail_at_load(plugin: str, options: dict[str, t.Any], message: str) -> None:
    with pytest.raises(PluginError, match=re.escape(message)):
        load("notifier", plugin, options)


# ----------------------------------------------------------------------------- desktop


def _dbus_missing() -> str | None:
    for tool in ("notify-send", "dbus-run-session"):
        if shutil.which(tool) is None:
            return f"{tool} not installed (apt install libnotify-bin dbus)"
    if importlib.util.find_spec("jeepney") is None:
        return "jeepney not installed (pip install jeepney)"
    return None


class FakeDaemon:
    """A fake notification daemon on a private session bus; ``records()`` reads its log."""

    def __init__(self, log: Path) -> None:
        self.log = log

    def records(self, count: int = 1, timeout: float = 5.0) -> list[dict[str, t.Any]]:
        """The first ``count`` notifications received (waits for them)."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.log.read_text().splitlines() if self.log.exists() else []
            if len(lines) >= count or time.monotonic() > deadline:
                return [json.loads(line) for line in lines]
            time.sleep(0.05)


@pytest.fixture
def notifyd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDaemon]:
    """Start a private D-Bus session with the fake daemon; point this test at it."""
    missing = _dbus_missing()
    if missing:
        pytest.skip(missing)
    log, ready = tmp_path / "notifyd.jsonl", tmp_path / "notifyd.ready"
    daemon = Path(__file__).with_name("fake_notifyd.py")
    child = subprocess.Popen(
        ["dbus-run-session", "--", sys.executable, str(daemon), str(log), str(ready)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while not ready.exists():
            if child.poll() is not None or time.monotonic() > deadline:
                err = child.stderr.read().decode() if child.stderr else ""
                pytest.fail(f"fake notification daemon did not start: {err}")
            time.sleep(0.05)
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", ready.read_text())
        monkeypatch.delenv("DISPLAY", raising=False)
        yield FakeDaemon(log)
    finally:
        os.killpg(child.pid, signal.SIGTERM)
        child.wait(10)
        if child.stderr:
            child.stderr.close()


@pytest.mark.parametrize(
    ("priority", "urgency"), [("urgent", 2), ("action", 1), ("warning", 1), ("info", 0)]
)
def test_desktop_notify_send_reaches_the_daemon(
    notifyd: FakeDaemon, priority: str, urgency: int
) -> None:
    note = Notification(
        title="PR #7 needs review",
        message="CI failed on feat/x",
        priority=t.cast(t.Any, priority),
        session="ao-3",
    )
    notifier("desktop", platform="linux").notify(note)
    [got] = notifyd.records()
    assert got["app"] == "ao"
    assert got["summary"] == "ao-3: PR #7 needs review"
    assert got["body"] == "CI failed on feat/x"
    assert got["urgency"] == urgency


def test_desktop_hostile_text_is_shown_not_parsed(notifyd: FakeDaemon) -> None:
    note = Notification(
        title="--help \x1b]0;pwned\x07", message="<a href='http://evil'>x</a> & \x1b[2Jmore"
    )
    notifier("desktop", platform="linux", appName="ao-test", expireTime=4000).notify(note)
    [got] = notifyd.records()
    assert got["app"] == "ao-test"
    assert got["summary"] == "--help"
    assert got["body"] == "&lt;a href='http://evil'&gt;x&lt;/a&gt; &amp; more"
    assert got["expire_timeout"] == 4000


def test_desktop_without_a_notification_daemon_fails_with_a_hint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if shutil.which("notify-send") is None:
        pytest.skip("notify-send not installed (apt install libnotify-bin)")
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path}/no-bus")
    monkeypatch.delenv("DISPLAY", raising=False)
    with pytest.raises(CommandError, match="notify-send failed") as caught:
        notifier("desktop", platform="linux", timeout=10).notify(NOTE)
    assert "notification daemon" in (caught.value.hint or "")


def test_desktop_missing_binary_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(CommandError, match="notify-send not found") as caught:
        notifier("desktop", platform="linux").notify(NOTE)
    assert "apt install libnotify-bin" in (caught.value.hint or "")


def test_desktop_macos_passes_text_as_arguments_never_as_script() -> None:
    hostile = Notification(
        title='x" & (do shell script "touch /tmp/pwned") & "',
        message='end run\non run argv\ndo shell script "id"',
        priority="urgent",
        session="ao-1",
        project="demo",
    )
    argv = notifier("desktop", platform="darwin").argv(hostile)
    scripts = [argv[i + 1] for i, a in enumerate(argv) if a == "-e"]
    assert scripts == [
        "on run argv",
        "display notification (item 3 of argv) with title (item 2 of argv)"
        ' subtitle (item 4 of argv) sound name "Glass"',
        "end run",
    ]
    assert argv[0] == "osascript"
    assert argv[-4:] == ["ao", hostile.title, hostile.message, "ao-1 · demo"]
    quiet = notifier("desktop", platform="darwin", sound=False).argv(hostile)
    assert not any("sound" in a for a in quiet)


def test_cli_notify_test_desktop(notifyd: FakeDaemon, ao: RunAo, tmp_path: Path) -> None:
    config = tmp_path / "agent-orchestrator.yaml"
    config.write_text("projects: {}\n")
    result = ao("notify", "test", "desktop", "--priority", "urgent", env={"AO_CONFIG": str(config)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")
    [got] = notifyd.records()
    assert (got["app"], got["summary"], got["urgency"]) == ("ao", "ao test notification", 2)
