"""Find plugins through entry points: built-ins and third-party plugins alike.

Each slot is the entry-point group ``ao.<slot>``; an entry point names a class that is
constructed with the plugin's options mapping. Scanning installed distributions costs
tens of milliseconds, so the scan is cached under ``$AO_HOME/cache`` keyed by the
modification times of every ``sys.path`` directory (installing, upgrading or removing a
distribution changes its site directory).
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import importlib
import pickle
import sys
import typing as t
from collections.abc import Mapping
from pathlib import Path

from ao.sdk.conformance import missing_members
from ao.sdk.contracts import (
    API_VERSION,
    SLOT_PROTOCOLS,
    SLOTS,
    Agent,
    Notifier,
    Runtime,
    Scm,
    Terminal,
    Tracker,
    Workspace,
)
from ao.sdk.errors import PluginError
from ao.sdk.home import ao_home
from ao.store.locks import write_private


class Entry(t.NamedTuple):
    """One registered plugin."""

    name: str
    target: str  # "module:attr"
    package: str
    version: str


def _path_key() -> tuple[tuple[str, int], ...]:
    key = []
    for entry in sys.path:
        with contextlib.suppress(OSError):
            key.append((entry, Path(entry or ".").stat().st_mtime_ns))
    return tuple(key)


def _scan() -> dict[str, list[Entry]]:
    from importlib import metadata  # lazy: only on a cache miss (an install changed sys.path)

    found: dict[str, list[Entry]] = {slot: [] for slot in SLOTS}
    for slot in SLOTS:
        for ep in metadata.entry_points(group=f"ao.{slot}"):
            dist = ep.dist
            found[slot].append(
                Entry(ep.name, ep.value, dist.name if dist else "", dist.version if dist else "")
            )
    return found


@functools.cache
def _all() -> dict[str, list[Entry]]:
    cache = ao_home() / "cache" / "entry-points.pickle"
    key = _path_key()
    with contextlib.suppress(Exception):
        with cache.open("rb") as fh:
            cached_key, found = pickle.load(fh)  # trusted: ao's own file under AO_HOME
        if cached_key == key:
            return t.cast("dict[str, list[Entry]]", found)
    found = _scan()
    with contextlib.suppress(OSError):
        write_private(cache, pickle.dumps((key, found)))
    return found


def available(slot: str) -> dict[str, Entry]:
    """Plugins registered for ``slot``, by name."""
    if slot not in SLOTS:
        raise PluginError(f"unknown plugin slot {slot!r}", hint=f"slots: {', '.join(SLOTS)}")
    return {e.name: e for e in _all()[slot]}


Options = Mapping[str, t.Any] | None


@t.overload
def load(slot: t.Literal["runtime"], name: str, options: Options = None) -> Runtime: ...
@t.overload
def load(slot: t.Literal["agent"], name: str, options: Options = None) -> Agent: ...
@t.overload
def load(slot: t.Literal["workspace"], name: str, options: Options = None) -> Workspace: ...
@t.overload
def load(slot: t.Literal["tracker"], name: str, options: Options = None) -> Tracker: ...
@t.overload
def load(slot: t.Literal["scm"], name: str, options: Options = None) -> Scm: ...
@t.overload
def load(slot: t.Literal["notifier"], name: str, options: Options = None) -> Notifier: ...
@t.overload
def load(slot: t.Literal["terminal"], name: str, options: Options = None) -> Terminal: ...
@t.overload
def load(slot: str, name: str, options: Options = None) -> object: ...
def load(slot: str, name: str, options: Options = None) -> object:
    """Instantiate plugin ``name`` of ``slot`` with ``options``, typed as the slot's Protocol.

    Raises PluginError when it fails to import or start, implements another API version,
    or lacks a member of the slot's Protocol (``ao.sdk.contracts.SLOT_PROTOCOLS``).
    """
    cls = load_class(slot, name)
    try:
        plugin = cls(dict(options or {}))
    except Exception as exc:
        raise PluginError(f"{slot} plugin {name!r} could not start: {exc}") from exc
    missing = ", ".join(missing_members(plugin, SLOT_PROTOCOLS[slot]))
    if missing:  # what isinstance on the slot's Protocol would say, stubs included
        raise PluginError(
            f"{slot} plugin {name!r} does not implement the {slot} contract (no {missing})",
            hint="see docs/plugins.md; upgrade the plugin or ao",
        )
    return plugin


def load_class(slot: str, name: str) -> t.Callable[[dict[str, t.Any]], object]:
    """Import plugin ``name`` of ``slot`` and check its API version, without starting it."""
    entries = available(slot)
    if name not in entries:
        close = difflib.get_close_matches(name, entries, n=1)
        hint = (
            f"did you mean {close[0]!r}?"
            if close
            else f"available: {', '.join(sorted(entries)) or 'none'}"
        )
        raise PluginError(f"no {slot} plugin named {name!r}", hint=hint)
    entry = entries[name]
    module_name, _, attr = entry.target.partition(":")
    try:
        obj: t.Any = importlib.import_module(module_name)
        for part in attr.split(".") if attr else ():
            obj = getattr(obj, part)
    except Exception as exc:
        raise PluginError(
            f"{slot} plugin {name!r} ({entry.target}) failed to import: {exc}"
        ) from exc
    version = getattr(obj, "api_version", None)
    if version != API_VERSION:
        raise PluginError(
            f"{slot} plugin {name!r} implements API version {version!r}; ao needs {API_VERSION}",
            hint="upgrade the plugin or ao",
        )
    return t.cast("t.Callable[[dict[str, t.Any]], object]", obj)


def refresh() -> None:
    """Forget this process's scan, after installing or removing a plugin in-process (the
    cache on disk notices by itself: its key changes with the site directories)."""
    _all.cache_clear()


def describe() -> list[dict[str, str]]:
    """Every registered plugin: slot, name, entry point target, distribution and version."""
    return [
        {
            "slot": slot,
            "name": e.name,
            "target": e.target,
            "package": e.package,
            "version": e.version,
        }
        for slot in SLOTS
        for e in sorted(_all()[slot])
    ]
