"""Where a session record keeps its runtime handle: the one place that spells those keys.

The keys are a stored format. Every ao so far wrote a session's runtime name and target
as ``tmux_name=`` and ``pane_id=``, whatever the runtime; renaming them would orphan live
sessions (gc and the watcher would no longer find their handles), so they stay. The
record (``ao.store.record``) reads them into ``runtime_name`` and ``runtime_target``.
"""

from __future__ import annotations

import typing as t

from ao.sdk.contracts import RuntimeHandle

NAME_KEY = "tmux_name"  # the runtime's name of the session (``RuntimeHandle.name``)
TARGET_KEY = "pane_id"  # the address of its input (``RuntimeHandle.target``)


class _Record(t.Protocol):
    @property
    def runtime(self) -> str | None: ...
    @property
    def runtime_name(self) -> str | None: ...
    @property
    def runtime_target(self) -> str | None: ...


def recorded_handle(record: _Record) -> RuntimeHandle | None:
    """The handle stored in ``record``, if its spawn got that far."""
    name, target = record.runtime_name, record.runtime_target
    if not name or not target:
        return None
    return RuntimeHandle(runtime=record.runtime or "", name=name, target=target)
