"""``notificationRouting`` and ``reactions`` keyed by event types (``ci.failing``, ``pr.*``).

Routing is checked with the real webhook plugin posting to real HTTP receivers on
127.0.0.1, through ``dispatch`` and through ``ao watch`` with the fake SCM plugin; the
config errors through the loader, with the file's line and a suggestion.
"""

from __future__ import annotations

import json
import typing as t
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ao.config import InvalidConfigError, load_config
from ao.config.events import EVENT_TYPES, GLOBS, PRIORITY_NAMES
from ao.config.models import AoConfig
from ao.lifecycle import reactions as rx
from ao.lifecycle.vocabulary import Event, Ran
from ao.notify import dispatch, routed_names, subscribed
from ao.sdk.contracts import Notification
from ao.sdk.errors import ConfigError
from tests.conftest import RunAo
from tests.fake_notifyd import Receiver
from tests.sessionkit import Project, wait_for
from tests.test_lifecycle import forge, set_pr, watch_once  # noqa: F401  (fixture)

MakeReceiver = Callable[..., Receiver]


@pytest.fixture
def receiver() -> Iterator[MakeReceiver]:
    """Start local HTTP receivers that answer 200 and record every request."""
    made: list[Receiver] = []

    def make() -> Receiver:
        rec = Receiver().start()
        made.append(rec)
        return rec

    yield make
    for rec in made:
        rec.stop()


def config(**data: t.Any) -> AoConfig:
    """A validated config from camelCase keys, as the loader would build it."""
    return AoConfig.model_validate(data)


def hook(rec: Receiver) -> dict[str, t.Any]:
    """A ``notifiers.<name>`` entry posting to ``rec``."""
    return {"plugin": "webhook", "url": rec.url + "/ao", "retryDelay": 0.01}


def note(priority: str, event: str | None = None) -> Notification:
    data = {"reaction": "r", "event": event} if event else {"reaction": "r"}
    return Notification(
        title=f"{event or 'plain'} {priority}", message="m",
        priority=t.cast(t.Any, priority), data=data,
    )  # fmt: skip


def problems_of(path: Path) -> list[str]:
    with pytest.raises(InvalidConfigError) as info:
        load_config(path)
    return info.value.problems


# ----------------------------------------------------------------------------- routing


def test_an_event_types_entry_wins_then_its_glob_then_the_priority_then_defaults(
    receiver: MakeReceiver,
) -> None:
    exact, glob, ops, fallback = receiver(), receiver(), receiver(), receiver()
    cfg = config(
        notifiers={"exact": hook(exact), "glob": hook(glob), "ops": hook(ops),
                   "fallback": hook(fallback)},
        notificationRouting={
            "ci.failing": ["exact"], "ci.*": ["glob"], "warning": ["ops"], "action": ["ops"],
            "merge.completed": [],  # routed nowhere, although `action` is routed
        },
        defaults={"notifiers": ["fallback"]},
    )  # fmt: skip
    sent = [
        note("warning", "ci.failing"),  # its own entry: not the priority's, not the glob's
        note("warning", "ci.fix_failed"),  # no entry of its own: its category's glob
        note("warning"),  # about no event: the priority
        note("warning", "not.a_type"),  # not a vocabulary type: the priority (still echoed)
        note("action", "merge.completed"),  # an empty list: nobody
        note("action", "review.approved"),  # no event entry: the priority
        note("info", "pr.created"),  # neither: defaults.notifiers
    ]
    for n in sent:
        assert all(r.ok for r in dispatch(cfg, n, timeout=5))

    def got(rec: Receiver) -> list[tuple[str | None, str]]:
        return [(b["event"], b["title"]) for b in (r.json() for r in rec.requests)]

    assert got(exact) == [("ci.failing", "ci.failing warning")]
    assert got(glob) == [("ci.fix_failed", "ci.fix_failed warning")]
    assert sorted(got(ops), key=str) == sorted(
        [(None, "plain warning"), ("not.a_type", "not.a_type warning"),
         ("review.approved", "review.approved action")], key=str,
    )  # fmt: skip
    assert got(fallback) == [("pr.created", "pr.created info")]
    assert routed_names(cfg, "warning", "ci.failing") == [
        ("exact", "notificationRouting.ci.failing[0]")
    ]
    assert routed_names(cfg, "warning", "ci.passing") == [("glob", "notificationRouting.ci.*[0]")]


def test_an_event_type_or_glob_with_notifiers_subscribes_to_the_event() -> None:
    cfg = config(
        notificationRouting={"pr.*": ["desktop"], "merge.completed": ["desktop"],
                             "pr.closed": [], "urgent": ["desktop"]},
    )  # fmt: skip
    assert subscribed(cfg, "merge.completed") and subscribed(cfg, "pr.created")
    assert not subscribed(cfg, "pr.closed")  # its own empty entry wins over `pr.*`
    assert not subscribed(cfg, "session.stuck")  # a priority entry subscribes to nothing
    assert not subscribed(config(), "ci.failing")


def test_an_unknown_routing_key_is_a_config_error_naming_file_line_and_key(
    tmp_path: Path,
) -> None:
    cfg = tmp_path / "agent-orchestrator.yaml"
    cfg.write_text("notificationRouting:\n  urgent: [desktop]\n  ci.faling: [desktop]\n")
    (problem,) = problems_of(cfg)
    assert problem.startswith(
        f"{cfg}:3: notificationRouting.ci.faling: unknown routing key 'ci.faling': "
        "did you mean 'ci.failing'? A key is a priority (urgent, action, warning, info), "
        "an event type"
    )
    assert "category glob (session.*, pr.*, ci.*, review.*, merge.*)" in problem
    cfg.write_text("notificationRouting:\n  pr.**: [desktop]\n  urgnt: [desktop]\n")
    assert "did you mean 'pr.*'?" in problems_of(cfg)[0]
    cfg.write_text("notificationRouting:\n  urgnt: [desktop]\n")
    assert "did you mean 'urgent'?" in problems_of(cfg)[0]
    # the notifier names under an event type are checked like a priority's
    cfg.write_text("notificationRouting:\n  merge.completed: [desktp]\n")
    (problem,) = problems_of(cfg)
    assert problem.startswith(
        f"{cfg}:2: notificationRouting.merge.completed[0]: unknown notifier 'desktp'; "
        "did you mean 'desktop'?"
    )
    cfg.write_text("notificationRouting:\n  merge.completed: [desktop]\n  pr.*: []\n")
    assert load_config(cfg).model.notification_routing == {
        "merge.completed": ["desktop"], "pr.*": [],
    }  # fmt: skip


def test_a_reaction_may_be_keyed_by_an_event_type(tmp_path: Path) -> None:
    cfg = tmp_path / "agent-orchestrator.yaml"
    cfg.write_text(
        "reactions:\n  merge.completed:\n    message: '{{pr}} merged'\n    priority: urgent\n"
        "  review.approved:\n    action: send-to-agent\n    auto: false\n"
    )
    reactions = load_config(cfg).model.reactions
    assert reactions["merge.completed"].message == "{{pr}} merged"
    cfg.write_text("reactions:\n  review.aproved:\n    message: hi\n")
    (problem,) = problems_of(cfg)
    assert problem.startswith(
        f"{cfg}:2: reactions.review.aproved: unknown reaction 'review.aproved': "
        "did you mean 'review.approved'?"
    )
    cfg.write_text("reactions:\n  merge.ready:\n    action: merge\n")
    (problem,) = problems_of(cfg)
    assert problem.startswith(
        f"{cfg}:3: reactions.merge.ready.action: an event's reaction is notify or "
        "send-to-agent, not merge"
    )
    cfg.write_text("reactions:\n  ci.failing:\n    message: fix it\n    escalateAfter: 2\n")
    (problem,) = problems_of(cfg)
    assert problem.startswith(
        f"{cfg}:4: reactions.ci.failing.escalateAfter: escalateAfter does not apply to a "
        "reaction keyed by an event type"
    )


def test_the_schema_and_config_help_name_every_routing_key(ao: RunAo, tmp_path: Path) -> None:
    r = ao("config", "schema", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    names = json.loads(r.stdout)["properties"]["notificationRouting"]["propertyNames"]["enum"]
    assert names == [*PRIORITY_NAMES, *EVENT_TYPES, *GLOBS]
    help_text = " ".join(ao("config-help", cwd=tmp_path).stdout.split())
    assert "notificationRouting map of list of string Which notifiers receive each " in (help_text)
    assert "or event type (`ci.failing`, or a category glob such as `pr.*`)" in help_text
    assert "or an event type such as `merge.completed`" in help_text


def test_dispatch_of_an_unvalidated_unknown_notifier_under_an_event_type() -> None:
    cfg = config().model_copy(update={"notification_routing": {"ci.failing": ["nope"]}})
    with pytest.raises(ConfigError, match=r"^notificationRouting\.ci\.failing\[0\]: unknown"):
        dispatch(cfg, note("warning", "ci.failing"))


# ----------------------------------------------------------------------------- the lifecycle


def event(kind: str, priority: str = "info") -> Event:
    return Event(kind, t.cast(t.Any, priority), f"d-1: {kind}", {"head_sha": "h1"})


def plans(cfg: AoConfig, happened: list[Event], *ran: Ran) -> list[tuple[str, str, str, str]]:
    planned = rx.for_events(cfg, happened, ran, lambda key, c: f"rendered {c.message}")
    return [(p.reaction, p.kind, p.priority, p.message) for p, _ in planned]


def test_events_call_for_their_reaction_or_a_routed_notification() -> None:
    cfg = config(
        notificationRouting={"merge.*": ["desktop"], "ci.failing": ["desktop"]},
        reactions={
            "pr.created": {"message": "PR {{pr}}", "priority": "action"},
            "review.approved": {"action": "send-to-agent"},
            "review.changes_requested": {"action": "send-to-agent", "auto": False},
        },
    )
    happened = [event("pr.created"), event("ci.failing", "warning"), event("ci.passing"),
                event("review.approved", "action"), event("review.changes_requested", "warning"),
                event("merge.ready", "action"), event("merge.completed", "action")]  # fmt: skip
    # approved-and-green's own notification is about merge.ready: that one is not doubled
    assert plans(cfg, happened, Ran("approved-and-green", "notify", True)) == [
        ("pr.created", "notify", "action", "rendered PR {{pr}}"),
        ("ci.failing", "notify", "warning", "d-1: ci.failing"),
        ("review.approved", "send", "action", "d-1: review.approved"),
        ("review.changes_requested", "notify", "warning", "d-1: review.changes_requested"),
        ("merge.completed", "notify", "action", "d-1: merge.completed"),
    ]
    assert plans(config(), happened) == []  # nothing named: events are only logged


@pytest.mark.tmux
def test_watch_routes_events_by_type_to_real_receivers(
    proj: Project,
    forge: Path,  # noqa: F811
    receiver: MakeReceiver,
) -> None:
    """`ao watch`: a reaction keyed by `pr.created` goes where `pr.*` says (not where its
    priority would), `ci.failing` is sent because routing names it, and `pr.merged`
    because `pr.*` does; the priority's notifier hears none of them."""
    prs, ci, ops = receiver(), receiver(), receiver()
    proj.use_receiver(
        scm="fake",
        repo="acme/demo",
        top={
            "notifiers": {"prs": hook(prs), "ci": hook(ci), "ops": hook(ops)},
            "notificationRouting": {
                "pr.*": ["prs"], "ci.failing": ["ci"], "warning": ["ops"], "action": ["ops"],
            },
            "reactions": {"pr.created": {"message": "up: {{pr}}", "priority": "action"}},
        },
    )  # fmt: skip
    assert proj.ao("new", "go").returncode == 0
    wait_for(lambda: proj.received() == ["go"], what="task")
    watch_once(proj)  # the first sighting: session.spawned, routed nowhere
    set_pr(forge, "ao/d-1", checks=[{"name": "unit", "state": "pending"}])
    watch_once(proj)
    set_pr(forge, "ao/d-1", checks=[{"name": "unit", "state": "failing", "log_excerpt": "E"}])
    report = watch_once(proj)
    assert ("ci-failed", "send") in [(a["reaction"], a["kind"]) for a in report["actions"]]  # type: ignore[index]
    set_pr(forge, "ao/d-1", state="merged", checks=[{"name": "unit", "state": "passing"}])
    watch_once(proj)

    def got(rec: Receiver) -> list[tuple[str, str, str]]:
        return [(b["event"], b["priority"], b["message"]) for b in (r.json() for r in rec.requests)]

    assert got(prs) == [
        ("pr.created", "action", "up: PR #7 https://forge.test/pr/7"),
        ("pr.merged", "info", "d-1: pr.merged (https://forge.test/pr/7)"),
    ]
    assert got(ci) == [("ci.failing", "warning", "d-1: ci.failing (https://forge.test/pr/7)")]
    assert got(ops) == []
    first = prs.requests[0].json()
    assert (first["session"], first["project"], first["data"]["reaction"]) == (
        "d-1", "demo", "pr.created",
    )  # fmt: skip
