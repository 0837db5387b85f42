"""Send a notification to the humans: routing, concurrent delivery, and deduplication.

Routing: a notification about a vocabulary event (``data["event"]``, e.g. ``ci.failing``)
goes to ``notificationRouting[<that type>]``, else to the entry of its category's glob
(``ci.*``); any other notification, or one whose event has neither entry, goes to
``notificationRouting[priority]``, else to ``defaults.notifiers``. The first entry found
decides, even an empty list (which means "none"). Each name is a key of ``notifiers:`` (a
plugin plus its options) or else a plugin name used with no options. An unknown name is
a ConfigError that names its key path. An event type or glob with a non-empty entry is
also *subscribed*: the lifecycle notifies that event whenever it happens (``subscribed``).

Delivery: every notifier runs in its own daemon thread and all of them share one
deadline, so ``dispatch`` returns within ``timeout`` (plus a few milliseconds) even when
a receiver hangs, and one notifier's failure never stops the others nor raises: each
gets a ``Delivered`` result. Hung threads are abandoned; being daemons, they never keep
the process alive.

Deduplication is a pure function over what the caller persisted (the lifecycle keeps
it in session metadata), see ``should_notify``.
"""

from __future__ import annotations

import dataclasses
import difflib
import threading
import time
import typing as t
from collections.abc import Mapping, Sequence

from ao.config.events import EVENT_PRIORITIES, PRIORITY_NAMES, routing_keys
from ao.registry import available, load
from ao.sdk.contracts import Notification
from ao.sdk.errors import AoError, ConfigError
from ao.sdk.textsafe import strip_controls

if t.TYPE_CHECKING:
    from ao.config.models import AoConfig

DEFAULT_TIMEOUT = 10.0
PRIORITIES: tuple[str, ...] = PRIORITY_NAMES

# the session-metadata key under which the lifecycle may keep the last notified state
DEDUP_KEY = "notified_state"


@dataclasses.dataclass(frozen=True)
class Target:
    """One notifier to deliver to: its name, plugin, options and where it was named."""

    name: str
    plugin: str
    options: Mapping[str, t.Any]
    where: str  # the config key path that named it, e.g. "notificationRouting.urgent[0]"


@dataclasses.dataclass(frozen=True)
class Delivered:
    """The outcome of one notifier: ``ok`` or the ``error`` it failed with."""

    name: str
    plugin: str
    ok: bool
    error: str | None
    seconds: float


# ----------------------------------------------------------------------------- routing


def event_of(note: Notification) -> str | None:
    """The vocabulary type ``note`` is about (its ``data["event"]``), if it names one."""
    event = note.data.get("event")
    return event if isinstance(event, str) and event in EVENT_PRIORITIES else None


def _entry(config: AoConfig, event: str | None) -> tuple[str, Sequence[str]] | None:
    """The routing key and names for ``event``: its type's entry, else its glob's."""
    routing = t.cast("Mapping[str, Sequence[str]]", config.notification_routing)
    for key in routing_keys(event) if event in EVENT_PRIORITIES else ():
        if key in routing:
            return key, routing[key]
    return None


def routed_names(
    config: AoConfig, priority: str, event: str | None = None
) -> list[tuple[str, str]]:
    """The notifier names for a notification of ``priority`` (about vocabulary type
    ``event``, if any) with the key path each came from."""
    if priority not in PRIORITIES:
        raise ConfigError(
            f"unknown priority {priority!r}", hint=f"priorities: {', '.join(PRIORITIES)}"
        )
    routing = t.cast("Mapping[str, Sequence[str]]", config.notification_routing)
    found = _entry(config, event)
    if found is not None:
        names, path = found[1], f"notificationRouting.{found[0]}"
    elif priority in routing:
        names, path = routing[priority], f"notificationRouting.{priority}"
    else:
        names, path = config.defaults.notifiers, "defaults.notifiers"
    return [(str(name), f"{path}[{i}]") for i, name in enumerate(names)]


def subscribed(config: AoConfig, event: str) -> bool:
    """Whether ``notificationRouting`` names vocabulary type ``event`` (itself or by its
    glob) with at least one notifier: then the event is notified whenever it happens."""
    found = _entry(config, event)
    return found is not None and len(found[1]) > 0


def _entry_options(entry: t.Any) -> dict[str, t.Any]:
    # a NotifierConfig (extras are the options) or a cached config's read-only view
    dumped: dict[str, t.Any] = dict(entry.model_dump())
    dumped.pop("plugin", None)
    return dumped


def resolve(config: AoConfig, named: Sequence[tuple[str, str]]) -> list[Target]:
    """Turn ``(name, key path)`` pairs into targets; duplicates are delivered once.

    Raises ConfigError for a name that is neither a ``notifiers`` key nor a plugin.
    """

    plugins = available("notifier")
    configured = config.notifiers
    targets: list[Target] = []
    seen: set[str] = set()
    for name, where in named:
        if name in seen:
            continue
        seen.add(name)
        if name in configured:
            entry = configured[name]
            targets.append(Target(name, str(entry.plugin), _entry_options(entry), where))
        elif name in plugins:
            targets.append(Target(name, name, {}, where))
        else:
            candidates = [*configured, *plugins]
            close = difflib.get_close_matches(name, candidates, n=1)
            guess = f"; did you mean {close[0]!r}?" if close else ""
            defined = ", ".join(sorted(configured)) or "none"
            raise ConfigError(
                f"{where}: unknown notifier {name!r}{guess}",
                hint=f"add notifiers.{name} with a plugin, or use a plugin name "
                f"(plugins: {', '.join(sorted(plugins)) or 'none'}; notifiers: {defined})",
            )
    return targets


def targets_for(
    config: AoConfig,
    priority: str,
    names: Sequence[str] | None = None,
    event: str | None = None,
) -> list[Target]:
    """The notifiers a notification of ``priority`` (about ``event``) goes to, or exactly
    ``names`` when given."""
    if names is not None:
        return resolve(config, [(n, f"notifier {n!r}") for n in names])
    return resolve(config, routed_names(config, priority, event))


# ----------------------------------------------------------------------------- delivery


def _clean(note: Notification) -> Notification:
    return dataclasses.replace(
        note, title=strip_controls(note.title), message=strip_controls(note.message)
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, AoError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def deliver(
    targets: Sequence[Target], note: Notification, *, timeout: float = DEFAULT_TIMEOUT
) -> list[Delivered]:
    """Run every target's notifier concurrently; return one result each, in order.

    Never raises for a notifier's failure and never waits longer than ``timeout``.
    """

    available("notifier")  # scan (and cache) entry points once, before the threads start
    note = _clean(note)
    results: list[Delivered | None] = [None] * len(targets)
    start = time.monotonic()

    def work(i: int, target: Target) -> None:
        began = time.monotonic()
        try:
            notifier = load("notifier", target.plugin, target.options)
            notifier.notify(note)
        except BaseException as exc:
            error: str | None = _describe(exc)
        else:
            error = None
        results[i] = Delivered(
            target.name, target.plugin, error is None, error, time.monotonic() - began
        )

    threads = [
        threading.Thread(target=work, args=(i, tg), name=f"ao-notify-{tg.name}", daemon=True)
        for i, tg in enumerate(targets)
    ]
    for thread in threads:
        thread.start()
    deadline = start + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    out: list[Delivered] = []
    for i, target in enumerate(targets):
        result = results[i]
        if result is None:
            result = Delivered(
                target.name,
                target.plugin,
                False,
                f"no answer within {timeout:g}s (gave up waiting)",
                time.monotonic() - start,
            )
        out.append(result)
    return out


def dispatch(
    config: AoConfig,
    note: Notification,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    names: Sequence[str] | None = None,
) -> list[Delivered]:
    """Deliver ``note`` through the notifiers routed for its event type or priority (or
    exactly ``names``).

    Returns one ``Delivered`` per notifier (empty when none is routed). Raises only
    ConfigError, for a notifier name the config does not define, before sending anything.
    """
    targets = targets_for(config, note.priority, names, event_of(note))
    return deliver(targets, note, timeout=timeout)


# ----------------------------------------------------------------------------- dedup


def should_notify(seen: Mapping[str, str], session: str, state: str) -> bool:
    """Whether ``session`` entering ``state`` deserves a notification.

    ``seen`` maps a session id to the state it was last observed in (as recorded with
    ``remember``). The answer is True only when the state differs, so a state that
    persists across ticks, restarts and ``ao watch --once`` passes notifies once, and
    leaving a state and coming back notifies again. Pure: the caller persists ``seen``
    (the lifecycle keeps each session's entry in its metadata under ``DEDUP_KEY``).
    """
    return seen.get(session) != state


def remember(seen: Mapping[str, str], session: str, state: str) -> dict[str, str]:
    """A copy of ``seen`` with ``session`` recorded in ``state``.

    Call it for every observed state, not only the notified ones; otherwise returning
    to a state after leaving it would look like no change.
    """
    return {**seen, session: state}
