"""A stored fix item as the work item the checks module verifies, and its gate."""

from __future__ import annotations

import typing as t

from ao.fix.checks import Failure, WorkItem, gate
from ao.fix.store import FixItem, FixStore

if t.TYPE_CHECKING:
    from pathlib import Path

    from ao.store.paths import ProjectPaths

GATE_PREFIX = "fix:"  # a task's ``gate`` naming a fix item


def work_item(item: FixItem) -> WorkItem:
    """The ``WorkItem`` a stored item was planned from."""
    failures = tuple(
        Failure(
            check=item.check,
            id=str(f.get("id") or ""),
            file=f.get("file"),
            line=f.get("line"),
            message=str(f.get("message") or ""),
            output=str(f.get("output") or ""),
            reproduce=tuple(f.get("reproduce") or ()),
        )
        for f in item.failures
    )
    return WorkItem(item.id, item.check, item.parser, failures, item.reproduce, item.files)


def stored(work: WorkItem) -> FixItem:
    """A planned work item as the fix run stores it."""
    failures = tuple(
        {"id": f.id, "file": f.file, "line": f.line, "message": f.message, "output": f.output,
         "reproduce": list(f.reproduce)}
        for f in work.failures
    )  # fmt: skip
    return FixItem(
        id=work.id, check=work.check, parser=work.parser, reproduce=work.reproduce,
        files=work.files, failures=failures,
    )  # fmt: skip


def gate_task(paths: ProjectPaths, gate_name: str, worktree: Path, timeout: float) -> str | None:
    """Run the gate a task names (``fix:<item>``) in its worktree: None when it passes,
    else why not (with the output)."""
    item_id = gate_name.removeprefix(GATE_PREFIX)
    return gate(work_item(FixStore(paths).item(item_id)), worktree, timeout)
