"""Find plugins through entry points: built-ins and third-party plugins alike.

Each slot is the entry-point group ``ao.<slot>``; an entry point names a class that is
constructed with the plugin's options mapping.
"""

from __future__ import annotations

import difflib
import functools
import typing as t
from collections.abc import Mapping
from importlib import metadata

from ao.contracts import API_VERSION, SLOTS
from ao.errors import PluginError


@functools.cache
def _entry_points(slot: str) -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=f"ao.{slot}")}


def available(slot: str) -> dict[str, metadata.EntryPoint]:
    """Plugins registered for ``slot``, by name."""
    if slot not in SLOTS:
        raise PluginError(f"unknown plugin slot {slot!r}", hint=f"slots: {', '.join(SLOTS)}")
    return _entry_points(slot)


def load(slot: str, name: str, options: Mapping[str, t.Any] | None = None) -> t.Any:
    """Instantiate plugin ``name`` of ``slot`` with ``options``."""
    eps = available(slot)
    if name not in eps:
        close = difflib.get_close_matches(name, eps, n=1)
        hint = (
            f"did you mean {close[0]!r}?"
            if close
            else f"available: {', '.join(sorted(eps)) or 'none'}"
        )
        raise PluginError(f"no {slot} plugin named {name!r}", hint=hint)
    ep = eps[name]
    try:
        cls = ep.load()
    except Exception as exc:
        raise PluginError(f"{slot} plugin {name!r} ({ep.value}) failed to import: {exc}") from exc
    version = getattr(cls, "api_version", None)
    if version != API_VERSION:
        raise PluginError(
            f"{slot} plugin {name!r} implements API version {version!r}; ao needs {API_VERSION}",
            hint="upgrade the plugin or ao",
        )
    try:
        return cls(dict(options or {}))
    except Exception as exc:
        raise PluginError(f"{slot} plugin {name!r} could not start: {exc}") from exc


def describe() -> list[dict[str, str]]:
    """Every registered plugin: slot, name, entry point, distribution."""
    rows = []
    for slot in SLOTS:
        for name, ep in sorted(available(slot).items()):
            dist = ep.dist.name if ep.dist else ""
            version = ep.dist.version if ep.dist else ""
            rows.append(
                {
                    "slot": slot,
                    "name": name,
                    "target": ep.value,
                    "package": dist,
                    "version": version,
                }
            )
    return rows
