"""Routing, concurrent delivery with a deadline, dedup, and ``ao notify test``.

Notifiers are the real webhook plugin posting to real HTTP receivers on 127.0.0.1.
"""

from __future__ import annotations

import json
import time
import typing as t
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from ao.config.models import AoConfig, Defaults
from ao.notify import Delivered, dispatch, remember, should_notify, targets_for
from ao.registry import load
from ao.sdk.contracts import Notification
from ao.sdk.errors import ConfigError
from tests.conftest import RunAo
from tests.fake_notifyd import Answer, Receiver

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


def config(**data: t.Any) -> AoConfig:
    """A validated config from camelCase keys, as the loader would build it."""
    return AoConfig.model_validate(data)


def hook(rec: Receiver, **options: t.Any) -> dict[str, t.Any]:
    """A ``notifiers.<name>`` entry posting to ``rec``."""
    return {"plugin": "webhook", "url": rec.url + "/ao", "retryDelay": 0.01, **options}


def by_name(results: list[Delivered]) -> dict[str, Delivered]:
    return {r.name: r for r in results}


# ----------------------------------------------------------------------------- routing


def test_routing_by_priority_then_defaults(receiver: MakeReceiver) -> None:
    a, b = receiver(), receiver()
    cfg = config(
        notifiers={"a": hook(a), "b": hook(b)},
        notificationRouting={"urgent": ["a", "b"], "info": ["b"], "action": []},
        defaults={"notifiers": ["a"]},
    )
    for priority in ("urgent", "info", "warning", "action"):
        note = Notification(title=priority, message="m", priority=t.cast(t.Any, priority))
        results = dispatch(cfg, note, timeout=5)
        assert all(r.ok for r in results), results

    def titles(rec: Receiver) -> list[str]:
        return [r.json()["title"] for r in rec.requests]

    assert sorted(titles(a)) == ["urgent", "warning"]  # warning: no route → defaults
    assert sorted(titles(b)) == ["info", "urgent"]  # action: routed to nobody


def test_names_resolve_to_config_entries_or_plugins() -> None:
    cfg = config(
        notifiers={"team": {"plugin": "slack", "url": "https://hooks.slack.test/x"}},
        notificationRouting={"urgent": ["team", "desktop", "team"]},
    )
    targets = targets_for(cfg, "urgent")
    assert [(tg.name, tg.plugin, dict(tg.options), tg.where) for tg in targets] == [
        ("team", "slack", {"url": "https://hooks.slack.test/x"}, "notificationRouting.urgent[0]"),
        ("desktop", "desktop", {}, "notificationRouting.urgent[1]"),
    ]


def test_unknown_notifier_is_a_config_error_naming_the_key_path() -> None:
    team = {"team-slack": {"plugin": "slack", "url": "https://x.test"}}
    # validation catches it (`ao config validate` reports it with its line)
    with pytest.raises(ValueError, match="unknown notifier 'team-slak'; did you mean 'team-slack'"):
        config(notifiers=team, notificationRouting={"urgent": ["desktop", "team-slak"]})
    # and dispatch still refuses a config that skipped validation
    cfg = config(notifiers=team).model_copy(
        update={
            "notification_routing": {"urgent": ["desktop", "team-slak"]},
            "defaults": Defaults(notifiers=["nope"]),
        }
    )
    with pytest.raises(ConfigError) as caught:
        dispatch(cfg, Notification(title="t", message="m", priority="urgent"))
    assert caught.value.message == (
        "notificationRouting.urgent[1]: unknown notifier 'team-slak'; did you mean 'team-slack'?"
    )
    assert "notifiers.team-slak" in (caught.value.hint or "")
    with pytest.raises(ConfigError, match=r"^defaults\.notifiers\[0\]: unknown notifier 'nope'"):
        dispatch(cfg, Notification(title="t", message="m", priority="info"))


def test_nothing_routed_sends_nothing() -> None:
    assert dispatch(config(), Notification(title="t", message="m")) == []


# ----------------------------------------------------------------------------- delivery


def test_a_hanging_receiver_cannot_delay_dispatch_past_its_timeout(
    receiver: MakeReceiver,
) -> None:
    hung, fine, other = receiver(default=Answer(hang=True)), receiver(), receiver()
    cfg = config(
        notifiers={
            "hung": hook(hung, timeout=30),
            "fine": hook(fine),
            "other": hook(other),
        },
        defaults={"notifiers": ["hung", "fine", "other"]},
    )
    started = time.monotonic()
    results = dispatch(cfg, Notification(title="t", message="m"), timeout=1.0)
    elapsed = time.monotonic() - started

    assert elapsed < 1.5  # the timeout plus scheduling slack, never the hung 30s
    assert [r.name for r in results] == ["hung", "fine", "other"]
    got = by_name(results)
    assert not got["hung"].ok
    assert got["hung"].error == "no answer within 1s (gave up waiting)"
    assert got["hung"].seconds >= 1.0
    assert got["fine"].ok and got["other"].ok and got["fine"].error is None
    assert len(fine.requests) == len(other.requests) == len(hung.requests) == 1


def test_notifiers_run_concurrently(receiver: MakeReceiver) -> None:
    # each receiver answers 503 once: every notifier spends ~1.5s in backoff
    recs = [receiver(Answer(503)) for _ in range(3)]
    cfg = config(
        notifiers={f"n{i}": hook(r, retryDelay=1.5) for i, r in enumerate(recs)},
        defaults={"notifiers": ["n0", "n1", "n2"]},
    )
    load("notifier", "webhook", {"url": "http://x"})  # import httpx outside the timing
    started = time.monotonic()
    results = dispatch(cfg, Notification(title="t", message="m"), timeout=8)
    assert all(r.ok for r in results)
    assert time.monotonic() - started < 3.0  # one after another would take >= 4.5s


def test_one_failure_never_stops_the_others(receiver: MakeReceiver) -> None:
    broken, fine = receiver(default=Answer(500, b"boom")), receiver()
    cfg = config(
        notifiers={
            "broken": hook(broken, retries=0),
            "misconfigured": {"plugin": "webhook"},
            "fine": hook(fine),
        },
        notificationRouting={"warning": ["broken", "misconfigured", "fine"]},
    )
    results = by_name(dispatch(cfg, Notification(title="t", message="m", priority="warning")))

    assert not results["broken"].ok
    assert "HTTP 500: boom" in (results["broken"].error or "")
    assert not results["misconfigured"].ok
    assert "could not start" in (results["misconfigured"].error or "")
    assert results["fine"].ok
    assert fine.requests[0].json()["priority"] == "warning"


def test_control_sequences_never_reach_a_notifier(receiver: MakeReceiver) -> None:
    rec = receiver()
    cfg = config(notifiers={"h": hook(rec)}, defaults={"notifiers": ["h"]})
    dispatch(cfg, Notification(title="\x1b]52;c;cHduZWQ=\x07ok", message="a\x1b[2Jb\r\nc"))
    body = rec.requests[0].json()
    assert (body["title"], body["message"]) == ("ok", "ab\nc")


# ----------------------------------------------------------------------------- dedup


def test_dedup_notifies_once_per_entry_into_a_state() -> None:
    seen: dict[str, str] = {}
    sent: list[tuple[str, str]] = []
    ticks = [
        ("s1", "needs_input"),
        ("s2", "working"),
        ("s1", "needs_input"),  # still waiting: no repeat
        ("s2", "working"),
        ("s1", "working"),  # answered
        ("s1", "needs_input"),  # asks again: a new notification
        ("s2", "needs_input"),
    ]
    for session, state in ticks:
        if state == "needs_input" and should_notify(seen, session, state):
            sent.append((session, state))
        seen = remember(seen, session, state)
    assert sent == [("s1", "needs_input"), ("s1", "needs_input"), ("s2", "needs_input")]


def test_dedup_is_pure() -> None:
    seen = {"s1": "exited"}
    assert not should_notify(seen, "s1", "exited")
    assert should_notify(seen, "s2", "exited")
    assert remember(seen, "s2", "exited") == {"s1": "exited", "s2": "exited"}
    assert seen == {"s1": "exited"}


# ----------------------------------------------------------------------------- CLI


def write_config(tmp_path: Path, **data: t.Any) -> dict[str, str]:
    """Write an agent-orchestrator.yaml; return the env that makes ao use it."""
    path = tmp_path / "agent-orchestrator.yaml"
    path.write_text(yaml.safe_dump({"projects": {}, **data}))
    return {"AO_CONFIG": str(path)}


def test_cli_notify_test_named(receiver: MakeReceiver, ao: RunAo, tmp_path: Path) -> None:
    rec = receiver()
    env = write_config(tmp_path, notifiers={"hook": {"plugin": "webhook", "url": rec.url + "/n"}})
    result = ao("notify", "test", "hook", "--priority", "action", env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok    hook (webhook)  ")
    [req] = rec.requests
    body = req.json()
    assert (req.path, body["v"], body["type"]) == ("/n", 1, "notification")
    assert (body["title"], body["priority"]) == ("ao test notification", "action")
    assert body["message"] == "If you can read this, the 'hook' notifier works."
    assert body["data"] == {"test": True}


def test_cli_notify_test_routing_json_and_failure(
    receiver: MakeReceiver, ao: RunAo, tmp_path: Path
) -> None:
    good, bad = receiver(), receiver(default=Answer(403, b"forbidden"))
    env = write_config(
        tmp_path,
        notifiers={
            "good": {"plugin": "webhook", "url": good.url},
            "bad": {"plugin": "webhook", "url": bad.url + "/secret-path-123"},
        },
        notificationRouting={"urgent": ["good", "bad"]},
    )
    result = ao("notify", "test", "--priority", "urgent", "--json", env=env)

    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["v"] == 1
    rows = {row["name"]: row for row in data["data"]}
    assert rows["good"]["ok"] and rows["good"]["plugin"] == "webhook"
    assert not rows["bad"]["ok"]
    assert "HTTP 403: forbidden" in rows["bad"]["error"]
    assert "secret-path-123" not in result.stdout
    assert len(good.requests) == len(bad.requests) == 1

    plain = ao("notify", "test", "-P", "urgent", env=env)
    assert plain.returncode == 1
    assert [line.split()[0] for line in plain.stdout.splitlines()] == ["ok", "FAIL"]


def test_cli_notify_test_errors(ao: RunAo, tmp_path: Path) -> None:
    env = write_config(tmp_path, notificationRouting={"warning": ["hoook"]})
    unknown = ao("notify", "test", "--priority", "warning", env=env)
    assert unknown.returncode == 3
    assert "notificationRouting.warning[0]: unknown notifier 'hoook'" in unknown.stderr
    unknown = ao("notify", "test", "hoook", env=env)
    assert unknown.returncode == 3 and "unknown notifier 'hoook'" in unknown.stderr

    env = write_config(tmp_path, notificationRouting={"warning": []})
    nothing = ao("notify", "test", env=env)
    assert nothing.returncode == 3
    assert "no notifiers are routed for priority 'info'" in nothing.stderr

    bad_priority = ao("notify", "test", "--priority", "loud", env=env)
    assert bad_priority.returncode == 2
    assert "unknown priority 'loud'" in bad_priority.stderr
