"""A fix run on disk: ``fix/run`` and one ``fix/items/<item>`` per work item, key=value.

``ao fix`` writes the run (its base branch, the checks, how many agents at once) and its
items (each failure group with the command that must pass); the lifecycle moves the
items through ``failing → fixing → queued → merging → merged | rejected | needs_you``.
Values that are lists (commands, files, failures) are JSON; every write is atomic under
the run's lock, and keys this ao does not know are kept.
"""

from __future__ import annotations

import builtins
import dataclasses
import datetime as dt
import enum
import json
import os
import typing as t
from pathlib import Path

from ao.sdk.errors import NotFoundError
from ao.store import kvfile
from ao.store.locks import atomic_write, locked
from ao.store.record import now, timestamp

if t.TYPE_CHECKING:
    from ao.store.paths import ProjectPaths


class ItemState(enum.StrEnum):
    """Where a work item is, from its failing check to the base branch."""

    FAILING = "failing"  # found, not yet handed to an agent (waits for a free slot)
    FIXING = "fixing"  # an agent works on it (its task runs, or was sent back)
    QUEUED = "queued"  # verified in its worktree: waits for the merge queue
    MERGING = "merging"  # the queue is rebasing it and running every check
    MERGED = "merged"
    REJECTED = "rejected"
    NEEDS_YOU = "needs_you"


ITEM_ENDED = frozenset({ItemState.MERGED, ItemState.REJECTED, ItemState.NEEDS_YOU})


@dataclasses.dataclass(frozen=True)
class FixRun:
    """One ``ao fix``: what it checks, on which base, with how many agents at once."""

    base: str
    checks: tuple[str, ...]
    jobs: int = 4
    agent: str | None = None
    base_sha: str = ""  # the base when the run started
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    extra: t.Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class FixItem:
    """One work item: the failures it fixes and how it is doing."""

    id: str
    check: str = ""
    parser: str = "generic"
    state: ItemState = ItemState.FAILING
    reproduce: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    failures: tuple[t.Mapping[str, t.Any], ...] = ()  # {id, file, line, message, output}
    task: str | None = None
    session: str | None = None
    branch: str | None = None
    attempts: int = 0  # times the queue sent it back (a conflict, a new failure)
    spawn_failures: int = 0  # times its agent did not come up (tried again: SPAWN_TRIES)
    reason: str | None = None
    merged_sha: str | None = None
    order: int = 0
    created_at: dt.datetime | None = None
    state_since: dt.datetime | None = None
    extra: t.Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def failure_ids(self) -> frozenset[str]:
        """The ids of the failures this item fixes."""
        return frozenset(str(f.get("id")) for f in self.failures)


_JSON = ("checks", "reproduce", "files", "failures")
_INTS = ("jobs", "attempts", "spawn_failures", "order")
_TIMES = ("started_at", "finished_at", "created_at", "state_since")
Record = t.TypeVar("Record", FixRun, FixItem)


def _encode(record: FixRun | FixItem) -> dict[str, str]:
    kv = dict(record.extra)
    for key, value in vars(record).items():
        if key == "extra" or value is None:
            continue
        if key in _JSON:
            kv[key] = json.dumps(list(value))
        elif key in _TIMES:
            kv[key] = timestamp(value)
        else:
            kv[key] = str(value)
    return kv


def _decode(cls: type[Record], kv: t.Mapping[str, str]) -> Record:
    names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
    values: dict[str, t.Any] = {}
    extra: dict[str, str] = {}
    for key, raw in kv.items():
        if key not in names:
            extra[key] = raw
            continue
        try:
            if key in _JSON:
                values[key] = tuple(json.loads(raw))
            elif key in _INTS:
                values[key] = int(raw)
            elif key in _TIMES:
                values[key] = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
            elif key == "state":
                values[key] = ItemState(raw)
            else:
                values[key] = raw
        except (ValueError, TypeError):
            extra[key] = raw
    return cls(**values, extra=extra)


class FixStore:
    """The fix run of one project namespace (one at a time)."""

    def __init__(self, paths: ProjectPaths) -> None:
        self.paths = paths
        self.dir = paths.root / "fix"
        self.items_dir = self.dir / "items"

    def lock(self) -> t.ContextManager[None]:
        """The run's lock: every read-merge-write of the run or an item."""
        return locked(self.paths.locks / "fix.lock", timeout=30.0)

    @property
    def scratch(self) -> Path:
        """The scratch worktree where checks run and the queue merges."""
        return self.dir / "scratch"

    def run(self) -> FixRun | None:
        """The project's fix run, or None when there is none."""
        try:
            text = (self.dir / "run").read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        return _decode(FixRun, kvfile.loads(text))

    def start(self, run: FixRun, items: t.Sequence[FixItem]) -> None:
        """Replace any finished run with ``run`` and its ``items`` (under the lock)."""
        self.paths.ensure()
        self.items_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self.lock():
            for old in self.items_dir.iterdir():
                old.unlink()
            when = now()
            for i, item in enumerate(items):
                item = dataclasses.replace(item, order=i, created_at=when, state_since=when)
                atomic_write(self.items_dir / item.id, kvfile.dumps(_encode(item)))
            started = dataclasses.replace(run, started_at=when)
            atomic_write(self.dir / "run", kvfile.dumps(_encode(started)))

    def finish(self) -> None:
        """Mark the run finished (every item ended)."""
        with self.lock():
            run = self.run()
            if run is not None and run.finished_at is None:
                done = dataclasses.replace(run, finished_at=now())
                atomic_write(self.dir / "run", kvfile.dumps(_encode(done)))

    def items(self) -> builtins.list[FixItem]:
        """The run's items in plan order."""
        try:
            names = os.listdir(self.items_dir)
        except FileNotFoundError:
            return []
        found = []
        for name in names:
            if not name.startswith("."):
                text = (self.items_dir / name).read_text(encoding="utf-8")
                found.append(_decode(FixItem, {**kvfile.loads(text), "id": name}))
        return sorted(found, key=lambda item: item.order)

    def item(self, item_id: str) -> FixItem:
        """One item; NotFoundError when the run has none by that id."""
        path = self.items_dir / item_id
        if "/" in item_id or not path.is_file():
            raise NotFoundError(f"no fix item {item_id!r}", hint="see `ao fix status`")
        return _decode(FixItem, {**kvfile.loads(path.read_text(encoding="utf-8")), "id": item_id})

    def update(self, item_id: str, /, **changes: t.Any) -> FixItem:
        """Merge ``changes`` into an item (a new ``state`` moves ``state_since``)."""
        with self.lock():
            item = self.item(item_id)
            if "state" in changes and changes["state"] != item.state:
                changes.setdefault("state_since", now())
            item = dataclasses.replace(item, **changes)
            atomic_write(self.items_dir / item_id, kvfile.dumps(_encode(item)))
            return item
