"""Where a session record keeps its runtime handle: the one place that spells those keys.

The keys are a stored format. Every ao so far wrote a session's runtime name and target
as ``tmux_name=`` and ``pane_id=``, whatever the runtime; renaming them would orphan live
sessions (gc and the watcher would no longer find their handles), so they stay, and the
rest of the core reads and writes them only through this module.
"""

from __future__ import annotations

import typing as t

from ao.sdk.contracts import RuntimeHandle

NAME_KEY = "tmux_name"  # the runtime's name of the session (``RuntimeHandle.name``)
TARGET_KEY = "pane_id"  # the address of its input (``RuntimeHandle.target``)


class _Record(t.Protocol):
    def get(self, key: str, default: str = "") -> str: ...


def handle_fields(handle: RuntimeHandle) -> dict[str, str]:
    """The record fields that store ``handle`` (merge them into the record)."""
    return {NAME_KEY: handle.name, TARGET_KEY: handle.target}


def recorded_handle(record: _Record) -> RuntimeHandle | None:
    """The handle stored in ``record``, if its spawn got that far."""
    name, target = record.get(NAME_KEY), record.get(TARGET_KEY)
    if not name or not target:
        return None
    return RuntimeHandle(runtime=record.get("runtime"), name=name, target=target)


def recorded_name(record: _Record) -> str:
    """The runtime name stored in ``record`` ("" when none is)."""
    return record.get(NAME_KEY)


def recorded_target(record: _Record) -> str:
    """The target stored in ``record`` ("" when none is)."""
    return record.get(TARGET_KEY)
