"""The OpenClaw and Composio notifiers against real HTTP servers on 127.0.0.1.

Each receiver (``tests/fake_notifyd.Receiver``) records the exact request (method, path,
headers, JSON body) and answers from a script, the way the real services answer: an
OpenClaw gateway's ``/hooks/agent`` hook, Composio's v3 ``tools/execute`` endpoint with
its error objects. Secrets are checked end to end: through ``ao notify test`` (a real
subprocess reading a real config with ``${NAME}`` references) and through the watcher's
delivery path (``ao.lifecycle.actions``: the outbox, then ``notification.failed`` events).
"""

from __future__ import annotations

import json
import os
import re
import time
import typing as t
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from ao.registry import load
from ao.sdk.contracts import Notification
from ao.sdk.errors import AoError, AuthError, PluginError
from tests.conftest import RunAo
from tests.fake_notifyd import Answer, Receiver

MakeReceiver = Callable[..., Receiver]

NOTE = Notification(
    title="CI failed \x1b[31mred\x1b[0m",
    message="Tests failed on main\n\x07bell",
    priority="warning",
    session="ao-3",
    project="demo",
    data={"url": "https://github.com/o/r/pull/7"},
)
TOKEN = "oc-hook-token-7f3a9c"
KEY = "ak_composio_5e1b77d0"
OK_EXEC = json.dumps(
    {"data": {"ok": True}, "error": None, "successful": True, "log_id": "log_abc"}
).encode()


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


@pytest.fixture(autouse=True)
def no_ambient_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither the developer's tokens nor their OpenClaw config reach these tests."""
    for name in ("OPENCLAW_HOOKS_TOKEN", "OPENCLAW_CONFIG_PATH", "COMPOSIO_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def notifier(plugin: str, **options: t.Any) -> t.Any:
    """A notifier loaded the way ao loads it: by entry point, with options."""
    return load("notifier", plugin, options)


def openclaw_config(text: str) -> Path:
    """Write ``~/.openclaw/openclaw.json`` (HOME is the test's own) with ``text``."""
    path = Path(os.environ["HOME"]) / ".openclaw" / "openclaw.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def json_answer(status: int, body: object) -> Answer:
    return Answer(status, json.dumps(body).encode(), {"Content-Type": "application/json"})


# ----------------------------------------------------------------------------- openclaw


def test_openclaw_posts_the_agent_hook_request(receiver: MakeReceiver) -> None:
    rec = receiver(default=json_answer(202, {"ok": True, "runId": "r1"}))
    notifier("openclaw", url=f"{rec.url}/hooks/agent", token=TOKEN).notify(NOTE)

    [req] = rec.requests
    assert (req.method, req.path) == ("POST", "/hooks/agent")
    assert req.headers["authorization"] == f"Bearer {TOKEN}"
    assert req.headers["content-type"] == "application/json"
    assert req.headers["user-agent"].startswith("ao/")
    assert req.json() == {
        "message": "CI failed red\n\nTests failed on main\nbell",
        "name": "ao",
        "sessionKey": "hook:ao:demo:ao-3",
        "wakeMode": "now",
        "deliver": True,
    }


def test_openclaw_options_shape_the_body(receiver: MakeReceiver) -> None:
    rec = receiver()
    url = f"{rec.url}/hooks/agent"
    common = {"url": url, "token": TOKEN}
    notifier(
        "openclaw",
        **common,
        name="ao-ci",
        wakeMode="next-heartbeat",
        deliver=False,
        channel="telegram",
        to="12345",
        agentId="hooks",
        sessionKeyPrefix="hook:fleet:",
    ).notify(Notification(title="Done", message="", session="x/y 1", project="my app"))
    notifier("openclaw", **common, sessionKey="hook:ao:ops").notify(NOTE)
    notifier("openclaw", **common, sessionKey=False).notify(NOTE)
    notifier("openclaw", **common).notify(Notification(title="ao test notification", message=""))

    first, fixed, none, bare = (r.json() for r in rec.requests)
    assert first == {
        "message": "Done", "name": "ao-ci", "sessionKey": "hook:fleet:my-app:x-y-1",
        "wakeMode": "next-heartbeat", "deliver": False, "channel": "telegram", "to": "12345",
        "agentId": "hooks",
    }  # fmt: skip
    assert fixed["sessionKey"] == "hook:ao:ops"
    assert "sessionKey" not in none
    assert bare["sessionKey"] == "hook:ao"


def test_openclaw_default_url_is_the_local_gateway() -> None:
    assert notifier("openclaw").url == "http://127.0.0.1:18789/hooks/agent"


def test_openclaw_token_sources_in_order(
    receiver: MakeReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    rec = receiver()
    url = f"{rec.url}/hooks/agent"
    openclaw_config(
        "// written by hand, JSON5 as OpenClaw documents it\n"
        "{\n  gateway: {port: 18789},\n  hooks: {\n    enabled: true,\n"
        '    token: "from-the-file-123", /* the hook token */\n    path: "/hooks",\n  },\n}\n'
    )
    monkeypatch.setenv("OPENCLAW_HOOKS_TOKEN", "from-the-env-456")
    monkeypatch.setenv("MY_HOOK_TOKEN", "from-a-reference-789")

    notifier("openclaw", url=url, token="from-the-option-000").notify(NOTE)
    notifier("openclaw", url=url, token="${MY_HOOK_TOKEN}").notify(NOTE)
    notifier("openclaw", url=url).notify(NOTE)  # no option: the environment
    monkeypatch.delenv("OPENCLAW_HOOKS_TOKEN")
    notifier("openclaw", url=url).notify(NOTE)  # no option, no env: ~/.openclaw/openclaw.json

    assert [r.headers["authorization"] for r in rec.requests] == [
        "Bearer from-the-option-000",
        "Bearer from-a-reference-789",
        "Bearer from-the-env-456",
        "Bearer from-the-file-123",
    ]


def test_openclaw_reads_the_config_named_by_openclaw_config_path(
    receiver: MakeReceiver, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rec = receiver()
    elsewhere = tmp_path / "profile" / "openclaw.json"
    elsewhere.parent.mkdir()
    elsewhere.write_text(json.dumps({"hooks": {"token": "profile-token-42"}}))
    monkeypatch.setenv("OPENCLAW_CONFIG_PATH", str(elsewhere))
    notifier("openclaw", url=rec.url + "/hooks/agent").notify(NOTE)
    assert rec.requests[0].headers["authorization"] == "Bearer profile-token-42"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, r"no 'token' option, no OPENCLAW_HOOKS_TOKEN, and {path} does not exist"),
        ('{"hooks": {"token": "half-written-secret', r"{path} is not valid JSON \(line 1, column"),
        ('{"hooks": {"enabled": true}}', r"{path} has no hooks.token"),
        ('["not", "an", "object"]', r"{path} has no hooks.token"),
        ('{"hooks": {"token": "${UNSET_OC_TOKEN}"}}', r"hooks.token in {path} is \$\{UNSET_OC"),
    ],
)
def test_openclaw_without_a_usable_token_fails_at_send_naming_the_file(
    receiver: MakeReceiver, content: str | None, problem: str
) -> None:
    rec = receiver()
    path = Path(os.environ["HOME"]) / ".openclaw" / "openclaw.json"
    if content is not None:
        openclaw_config(content)
    plugin = notifier("openclaw", url=rec.url + "/hooks/agent")  # loading needs no token
    with pytest.raises(AoError, match=problem.replace("{path}", re.escape(str(path)))) as caught:
        plugin.notify(NOTE)
    assert "OPENCLAW_HOOKS_TOKEN" in (caught.value.hint or "")
    assert "half-written-secret" not in str(caught.value)
    assert rec.requests == []  # never a request without credentials


def test_openclaw_unset_reference_in_the_option_is_an_error(receiver: MakeReceiver) -> None:
    rec = receiver()
    with pytest.raises(AoError, match=r"option 'token' is \$\{NOT_SET_ANYWHERE\}, which is not"):
        notifier("openclaw", url=rec.url, token="${NOT_SET_ANYWHERE}").notify(NOTE)
    assert rec.requests == []


def test_openclaw_retries_5xx_with_the_same_body(receiver: MakeReceiver) -> None:
    rec = receiver(Answer(503, b"gateway starting"), Answer(502, b"bad gateway"))
    notifier("openclaw", url=rec.url + "/hooks/agent", token=TOKEN, retryDelay=0.05).notify(NOTE)

    assert len(rec.requests) == 3
    assert len({r.body for r in rec.requests}) == 1
    assert {r.headers["authorization"] for r in rec.requests} == {f"Bearer {TOKEN}"}
    gaps = [b.at - a.at for a, b in zip(rec.requests, rec.requests[1:], strict=False)]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1  # exponential backoff


def test_openclaw_gives_up_after_its_retries(receiver: MakeReceiver) -> None:
    rec = receiver(default=Answer(500, b"boom"))
    with pytest.raises(AoError, match=r"failed after 2 attempts.*HTTP 500: boom"):
        notifier("openclaw", url=rec.url, token=TOKEN, retries=1, retryDelay=0.01).notify(NOTE)
    assert len(rec.requests) == 2


def test_openclaw_refused_token_is_an_auth_error_without_the_token(
    receiver: MakeReceiver,
) -> None:
    # a gateway (or a proxy in front of it) that echoes the request's header
    rec = receiver(default=Answer(401, f"Unauthorized: Bearer {TOKEN}".encode()))
    with pytest.raises(AuthError) as caught:
        notifier("openclaw", url=rec.url + "/hooks/agent", token=TOKEN).notify(NOTE)
    text = str(caught.value)
    assert len(rec.requests) == 1  # a 4xx is not retried
    assert "HTTP 401" in text and f"{rec.url}/hooks/agent" in text
    assert "the notifier's 'token' option" in text  # where it came from, not what it is
    assert TOKEN not in text


# ----------------------------------------------------------------------------- composio


def composio(rec: Receiver, **options: t.Any) -> t.Any:
    return notifier("composio", baseUrl=f"{rec.url}/api/v3", **options)


def test_composio_slack_executes_slack_send_message(receiver: MakeReceiver) -> None:
    rec = receiver(default=Answer(200, OK_EXEC, {"Content-Type": "application/json"}))
    note = Notification(
        title="PR <!channel> ready", message="All green & merged", priority="action",
        session="ao-3", project="demo", data={"prUrl": "https://github.com/o/r/pull/7"},
    )  # fmt: skip
    composio(rec, app="slack", channel="C0123456", composioApiKey=KEY).notify(note)

    [req] = rec.requests
    assert (req.method, req.path) == ("POST", "/api/v3/tools/execute/SLACK_SEND_MESSAGE")
    assert req.headers["x-api-key"] == KEY
    assert req.headers["content-type"] == "application/json"
    assert "authorization" not in req.headers
    assert req.json() == {
        "arguments": {
            "channel": "C0123456",
            "text": "*PR &lt;!channel&gt; ready*\nAll green &amp; merged\n"
            "_action · session ao-3 · project demo_\nhttps://github.com/o/r/pull/7",
        },
        "user_id": "default",
        "version": "latest",
    }


def test_composio_discord_and_gmail_arguments(receiver: MakeReceiver) -> None:
    rec = receiver(default=Answer(200, OK_EXEC))
    note = Notification(title="Stuck @everyone", message="no output for 10m", priority="urgent",
                        session="ao-1", project="demo")  # fmt: skip
    composio(rec, app="discord", channel="112233445566", apiKey=KEY, userId="ops",
             connectedAccountId="ca_discord1").notify(note)  # fmt: skip
    composio(rec, app="gmail", to="oncall@example.com", apiKey=KEY, version="20251027_00").notify(
        note
    )
    composio(rec, app="gmail", to="oncall@example.com", subject="ao alert", apiKey=KEY,
             arguments={"is_html": False}).notify(Notification(title="t", message="m"))  # fmt: skip

    discord, gmail, custom = rec.requests
    assert discord.path == "/api/v3/tools/execute/DISCORDBOT_CREATE_MESSAGE"
    assert discord.json() == {
        "arguments": {
            "channel_id": "112233445566",
            "content": "**Stuck @\u200beveryone**\nno output for 10m\n*urgent · session ao-1 · "
            "project demo*",
        },
        "user_id": "ops",
        "connected_account_id": "ca_discord1",
        "version": "latest",
    }
    assert gmail.path == "/api/v3/tools/execute/GMAIL_SEND_EMAIL"
    assert gmail.json() == {
        "arguments": {
            "recipient_email": "oncall@example.com",
            "subject": "[ao] Stuck @everyone",
            "body": "no output for 10m\n\nurgent · session ao-1 · project demo",
        },
        "user_id": "default",
        "version": "20251027_00",
    }
    assert custom.json()["arguments"] == {
        "recipient_email": "oncall@example.com", "subject": "ao alert",
        "body": "m\n\ninfo", "is_html": False,
    }  # fmt: skip


def test_composio_key_sources_in_order(
    receiver: MakeReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    rec = receiver(default=Answer(200, OK_EXEC))
    monkeypatch.setenv("COMPOSIO_API_KEY", "key-from-env-1")
    monkeypatch.setenv("TEAM_COMPOSIO_KEY", "key-from-ref-2")
    composio(rec, channel="C1", composioApiKey="key-option-3", apiKey="key-alias-4").notify(NOTE)
    composio(rec, channel="C1", apiKey="key-alias-4").notify(NOTE)
    composio(rec, channel="C1", apiKey="${TEAM_COMPOSIO_KEY}").notify(NOTE)
    composio(rec, channel="C1").notify(NOTE)
    assert [r.headers["x-api-key"] for r in rec.requests] == [
        "key-option-3", "key-alias-4", "key-from-ref-2", "key-from-env-1",
    ]  # fmt: skip


def test_composio_without_a_key_fails_at_send(receiver: MakeReceiver) -> None:
    rec = receiver()
    plugin = composio(rec, channel="C1")  # loading needs no key
    with pytest.raises(AoError, match="no API key: no composioApiKey/apiKey option and no COMP"):
        plugin.notify(NOTE)
    assert rec.requests == []


def test_composio_401_is_an_auth_error_without_the_key(receiver: MakeReceiver) -> None:
    refused = json_answer(
        401,
        {"error": {"message": f"Invalid API key {KEY}", "status": 401,
                   "request_id": "req_1", "suggested_fix": "Use a valid x-api-key"}},
    )  # fmt: skip
    rec = receiver(default=refused)
    with pytest.raises(AuthError) as caught:
        composio(rec, channel="C1", apiKey=KEY).notify(NOTE)
    text = str(caught.value)
    assert len(rec.requests) == 1
    assert "HTTP 401: Invalid API key *** (suggested fix: Use a valid x-api-key)" in text
    assert "/api/v3/tools/execute/SLACK_SEND_MESSAGE" in text
    assert "composioApiKey/apiKey option" in text and KEY not in text


def test_composio_4xx_reports_composios_error_and_is_not_retried(
    receiver: MakeReceiver,
) -> None:
    bad = json_answer(
        400,
        {"error": {"message": "No connected account found for this user and toolkit",
                   "status": 400, "request_id": "req_abc123",
                   "suggested_fix": "Connect the user to the toolkit first"}},
    )  # fmt: skip
    rec = receiver(default=bad)
    with pytest.raises(AoError) as caught:
        composio(rec, app="gmail", to="a@example.com", apiKey=KEY).notify(NOTE)
    assert not isinstance(caught.value, AuthError)
    assert len(rec.requests) == 1
    assert str(caught.value).endswith(
        "rejected the notification: HTTP 400: No connected account found for this user and "
        "toolkit (suggested fix: Connect the user to the toolkit first) [request req_abc123]"
    )


def test_composio_retries_5xx_then_delivers(receiver: MakeReceiver) -> None:
    rec = receiver(
        json_answer(502, {"error": {"message": "upstream", "status": 502}}),
        Answer(503, b"<html>busy</html>"),
        default=Answer(200, OK_EXEC),
    )
    composio(rec, channel="C1", apiKey=KEY, retryDelay=0.01).notify(NOTE)
    assert len(rec.requests) == 3
    assert len({r.body for r in rec.requests}) == 1


def test_composio_5xx_until_the_retries_run_out(receiver: MakeReceiver) -> None:
    rec = receiver(default=json_answer(500, {"error": {"message": "internal", "status": 500}}))
    with pytest.raises(AoError, match=r"failed after 3 attempts.*HTTP 500: internal"):
        composio(rec, channel="C1", apiKey=KEY, retries=2, retryDelay=0.01).notify(NOTE)
    assert len(rec.requests) == 3


def test_composio_unsuccessful_execution_is_a_failure(receiver: MakeReceiver) -> None:
    answer = {"data": {}, "error": "channel_not_found", "successful": False, "log_id": "log_9"}
    rec = receiver(default=json_answer(200, answer))
    with pytest.raises(AoError, match="SLACK_SEND_MESSAGE did not succeed: channel_not_found"):
        composio(rec, channel="#nope", apiKey=KEY).notify(NOTE)
    assert len(rec.requests) == 1  # the tool ran: sending again would not help


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"app": "teams", "channel": "c"}, "app must be one of slack, discord, gmail"),
        ({"app": "slack"}, "needs option 'channel'"),
        ({"app": "discord"}, "needs option 'channel' (a channel id)"),
        ({"app": "gmail"}, "needs option 'to'"),
        ({"channel": "c", "apikey": "x"}, "unknown option 'apikey'; did you mean 'apiKey'?"),
        ({"channel": "c", "baseUrl": "ftp://x"}, "baseUrl must be an http(s) URL"),
        ({"channel": "c", "arguments": ["x"]}, "arguments must be a mapping"),
    ],
)
def test_composio_bad_options_fail_at_load(options: dict[str, t.Any], message: str) -> None:
    with pytest.raises(PluginError, match=re.escape(message)):
        load("notifier", "composio", options)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"wakeMode": "later"}, "wakeMode must be one of now, next-heartbeat"),
        ({"deliver": "yes"}, "deliver must be true or false"),
        ({"sessionKey": ""}, "sessionKey must be true"),
        ({"url": "ftp://x"}, "url must be an http(s) URL"),
        ({"tokn": "x"}, "unknown option 'tokn'; did you mean 'token'?"),
    ],
)
def test_openclaw_bad_options_fail_at_load(options: dict[str, t.Any], message: str) -> None:
    with pytest.raises(PluginError, match=re.escape(message)):
        load("notifier", "openclaw", options)


# ----------------------------------------------------------------------------- end to end


def write_config(tmp_path: Path, **data: t.Any) -> Path:
    path = tmp_path / "agent-orchestrator.yaml"
    path.write_text(yaml.safe_dump({"projects": {}, **data}))
    return path


def test_cli_notify_test_through_both(receiver: MakeReceiver, ao: RunAo, tmp_path: Path) -> None:
    gateway = receiver(default=json_answer(202, {"ok": True}))
    backend = receiver(default=Answer(200, OK_EXEC))
    config = write_config(
        tmp_path,
        notifiers={
            "claw": {"plugin": "openclaw", "url": f"{gateway.url}/hooks/agent",
                     "token": "${OPENCLAW_HOOKS_TOKEN}"},
            "team": {"plugin": "composio", "app": "slack", "channel": "C0123",
                     "composioApiKey": "${COMPOSIO_API_KEY}", "baseUrl": f"{backend.url}/api/v3"},
        },
        notificationRouting={"urgent": ["claw", "team"]},
    )  # fmt: skip
    env = {"AO_CONFIG": str(config), "OPENCLAW_HOOKS_TOKEN": TOKEN, "COMPOSIO_API_KEY": KEY}
    result = ao("notify", "test", "--priority", "urgent", "--json", env=env)

    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)["data"]}
    assert rows["claw"]["ok"] and rows["claw"]["plugin"] == "openclaw"
    assert rows["team"]["ok"] and rows["team"]["plugin"] == "composio"
    [hook] = gateway.requests
    assert hook.headers["authorization"] == f"Bearer {TOKEN}"
    assert hook.json() == {
        "message": "ao test notification\n\nIf you can read this, the notifiers routed for "
        "'urgent' works.",
        "name": "ao", "sessionKey": "hook:ao", "wakeMode": "now", "deliver": True,
    }  # fmt: skip
    [call] = backend.requests
    assert call.path == "/api/v3/tools/execute/SLACK_SEND_MESSAGE"
    assert call.headers["x-api-key"] == KEY
    assert call.json()["arguments"]["channel"] == "C0123"


def test_cli_notify_test_failures_never_show_the_secrets(
    receiver: MakeReceiver, ao: RunAo, tmp_path: Path
) -> None:
    # both services echo the credential they were sent, the worst case for a leak
    gateway = receiver(default=Answer(403, f"token {TOKEN} not allowed".encode()))
    backend = receiver(default=json_answer(401, {"error": {"message": f"bad key {KEY}"}}))
    config = write_config(
        tmp_path,
        notifiers={
            "claw": {"plugin": "openclaw", "url": f"{gateway.url}/hooks/agent"},
            "team": {"plugin": "composio", "channel": "C0123", "baseUrl": backend.url},
        },
        notificationRouting={"urgent": ["claw", "team"]},
    )
    # the token comes from OpenClaw's own config, the key from the environment
    home = tmp_path / "home"
    (home / ".openclaw").mkdir(parents=True, exist_ok=True)
    (home / ".openclaw" / "openclaw.json").write_text(json.dumps({"hooks": {"token": TOKEN}}))
    env = {"AO_CONFIG": str(config), "HOME": str(home), "COMPOSIO_API_KEY": KEY}
    for args in (["--json"], []):
        result = ao("notify", "test", "--priority", "urgent", *args, env=env)
        assert result.returncode == 1
        assert TOKEN not in result.stdout + result.stderr
        assert KEY not in result.stdout + result.stderr
    assert "HTTP 403" in result.stdout and "HTTP 401: bad key ***" in result.stdout
    assert f"hooks.token in {home / '.openclaw' / 'openclaw.json'}" in result.stdout


def test_watcher_delivery_keeps_secrets_out_of_events_and_the_outbox(
    receiver: MakeReceiver, git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watcher's path: a reaction's notification is queued, ``flush`` delivers it, a
    failure is kept in the outbox and recorded as a ``notification.failed`` event."""
    from ao.lifecycle import actions  # lazy: only this test drives the lifecycle
    from ao.lifecycle.reactions import Planned
    from ao.session.context import Context

    gateway = receiver(default=Answer(401, f"bad bearer {TOKEN}".encode()))
    backend = receiver(default=json_answer(500, {"error": {"message": f"key {KEY} broke us"}}))
    config = write_config(
        tmp_path,
        projects={"demo": {"path": str(git_repo)}},
        notifiers={
            "claw": {"plugin": "openclaw", "url": f"{gateway.url}/hooks/agent",
                     "token": "${OPENCLAW_HOOKS_TOKEN}", "retries": 0},
            "team": {"plugin": "composio", "channel": "C1", "baseUrl": backend.url,
                     "composioApiKey": "${COMPOSIO_API_KEY}", "retries": 1,
                     "retryDelay": 0.01},
        },
        defaults={"notifiers": ["claw", "team"]},
    )  # fmt: skip
    monkeypatch.setenv("AO_CONFIG", str(config))
    monkeypatch.setenv("OPENCLAW_HOOKS_TOKEN", TOKEN)
    monkeypatch.setenv("COMPOSIO_API_KEY", KEY)
    ctx = Context.load()
    project = ctx.project("demo")
    planned = Planned("agent-stuck", "escalate", "urgent", "no progress for 10m", "stuck", "s1")
    actions.notify(project, "d-1", planned)

    [flushed] = actions.flush(ctx, [project], time.time())

    assert not flushed.ok
    assert len(gateway.requests) == 1 and len(backend.requests) == 2  # 4xx once, 5xx retried
    assert gateway.requests[0].json()["sessionKey"] == "hook:ao:demo:d-1"
    [failed] = [
        json.loads(line)
        for line in project.paths.events.read_text().splitlines()
        if json.loads(line)["type"] == "notification.failed"
    ]
    assert "claw: openclaw at" in failed["message"] and "HTTP 401" in failed["message"]
    assert "team: composio at" in failed["message"] and "HTTP 500" in failed["message"]
    stored = "".join(p.read_text() for p in actions.pending(project))
    for text in (project.paths.events.read_text(), stored, flushed.detail):
        assert TOKEN not in text and KEY not in text
