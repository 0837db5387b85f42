"""Tasks on disk: one ``key=value`` file per task in ``tasks/``, beside ``sessions/``.

A task is an asynchronous job bound to one session: a goal, the commands that verify
it, and a state the lifecycle moves (``ao.lifecycle.tasks``). Like a session record it
is a flat ``key=value`` file, written atomically under its own lock, and parsed once
into a typed, frozen ``TaskRecord``; keys this ao does not know are kept verbatim.
"""

from __future__ import annotations

import builtins
import dataclasses
import datetime as dt
import enum
import json
import os
import re
import typing as t
from pathlib import Path

from ao.sdk.errors import NotFoundError, UnreadableStateError, UsageError
from ao.store import kvfile
from ao.store.locks import atomic_create, atomic_write, locked
from ao.store.record import now, timestamp

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from ao.store.paths import ProjectPaths

TASK_ID_RE = re.compile(r"^task-[0-9]{1,9}$")


class TaskState(enum.StrEnum):
    """Where a task is: waiting for its session, worked on, asking, checked, or ended."""

    PENDING = "pending"
    RUNNING = "running"
    NEEDS_INPUT = "needs_input"
    VERIFYING = "verifying"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


TASK_ENDED = frozenset({TaskState.COMPLETED, TaskState.FAILED, TaskState.CANCELLED})


@dataclasses.dataclass(frozen=True)
class TaskRecord:
    """One task as stored. ``verify`` holds argv lists; ``turn_at`` is when the agent's
    current turn on it began (its task, or the last verification failure sent back)."""

    id: str
    goal: str = ""
    state: TaskState = TaskState.PENDING
    session: str | None = None
    agent: str | None = None
    parent: str | None = None  # the session that delegated it (told of its progress)
    parent_project: str | None = None  # the parent's project, when another one
    gate: str | None = None  # a verification of ao's own besides ``verify`` (``fix:<item>``)
    verify: tuple[tuple[str, ...], ...] = ()
    attempts: int = 0  # verification runs so far
    max_attempts: int = 3
    question: str | None = None  # what the agent asks, while needs_input
    reason: str | None = None  # why it failed or was cancelled; the last failed check
    output: str | None = None  # the last verification's output (bounded)
    summary: str | None = None
    branch: str | None = None
    commits: tuple[str, ...] = ()
    pr: str | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    state_since: dt.datetime | None = None
    turn_at: dt.datetime | None = None
    extra: t.Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def ended(self) -> bool:
        """Completed, failed or cancelled: nothing moves it any more."""
        return self.state in TASK_ENDED


_TIMES = ("created_at", "updated_at", "state_since", "turn_at")
_INTS = ("attempts", "max_attempts")
_FIELDS = {f.name for f in dataclasses.fields(TaskRecord)} - {"extra"}
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(TaskRecord) if f.name in _FIELDS}


def parse(kv: t.Mapping[str, str], task_id: str) -> TaskRecord:
    """A task from its ``key=value`` mapping; a value that does not parse reads as unset."""
    values: dict[str, t.Any] = {"id": task_id}
    extra: dict[str, str] = {}
    for key, raw in kv.items():
        if key not in _FIELDS or key == "id":
            if key != "id":
                extra[key] = raw
            continue
        try:
            values[key] = _decode(key, raw)
        except (ValueError, TypeError):
            extra[key] = raw
    return TaskRecord(**values, extra=extra)


def _decode(key: str, raw: str) -> t.Any:
    if key == "state":
        return TaskState(raw)
    if key in _TIMES:
        return dt.datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(dt.UTC)
    if key in _INTS:
        return int(raw)
    if key == "verify":
        argvs = json.loads(raw)
        if not all(isinstance(a, list) and all(isinstance(w, str) for w in a) for a in argvs):
            raise ValueError(raw)
        return tuple(tuple(a) for a in argvs)
    if key == "commits":
        return tuple(str(c) for c in json.loads(raw))
    return raw


def to_kv(task: TaskRecord) -> dict[str, str]:
    """The ``key=value`` mapping of ``task`` (unset fields omitted, extras kept)."""
    kv = dict(task.extra)
    fields = vars(task)
    for key in sorted(_FIELDS - {"id"}):
        value = fields[key]
        if value is None or value == () or (key in kv and value == _DEFAULTS[key]):
            continue  # unset, or unset because the stored value did not parse: keep it
        if key in _TIMES:
            kv[key] = timestamp(value)
        elif key == "verify":
            kv[key] = json.dumps([list(a) for a in value])
        elif key == "commits":
            kv[key] = json.dumps(list(value))
        else:
            kv[key] = str(value)
    return kv


def validate_task_id(task_id: str) -> str:
    """``task_id`` if it is a task id (``task-N``); UsageError otherwise."""
    if not TASK_ID_RE.fullmatch(task_id):
        raise UsageError(f"invalid task id {task_id!r}", hint="task ids look like task-3")
    return task_id


class TaskStore:
    """The tasks of one project namespace."""

    def __init__(self, paths: ProjectPaths) -> None:
        self.paths = paths
        self.dir = paths.root / "tasks"

    def _file(self, task_id: str) -> Path:
        return self.dir / task_id

    def lock(self, task_id: str) -> t.ContextManager[None]:
        """The task's write lock (one read-merge-write, or a whole verification)."""
        return locked(self.paths.locks / f"{task_id}.lock", timeout=30.0)

    def create(self, **fields: t.Any) -> TaskRecord:
        """A new task ``task-N`` (N never reused) holding ``fields``, written atomically."""
        self.paths.ensure()
        self.dir.mkdir(mode=0o700, exist_ok=True)
        with locked(self.paths.locks / "task-ids.lock"):
            used = [int(n[5:]) for n in os.listdir(self.dir) if TASK_ID_RE.fullmatch(n)]
            when = now()
            task = TaskRecord(
                id=f"task-{max(used, default=0) + 1}", created_at=when, updated_at=when,
                state_since=when, **fields,
            )  # fmt: skip
            atomic_create(self._file(task.id), kvfile.dumps(to_kv(task)))
        return task

    def exists(self, task_id: str) -> bool:
        """Whether the project has this task."""
        return self._file(task_id).is_file()

    def read(self, task_id: str) -> TaskRecord:
        """One task; NotFoundError when there is none."""
        path = self._file(validate_task_id(task_id))
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise NotFoundError(f"no task {task_id!r}", hint="see `ao task list`") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UnreadableStateError(f"task file {path} cannot be read ({exc})") from None
        return parse(kvfile.loads(text), task_id)

    def update(self, task_id: str, /, **changes: t.Any) -> TaskRecord:
        """Merge ``changes`` (field names of ``TaskRecord``) under the task's lock; a new
        ``state`` also moves ``state_since``. Returns the task as written."""
        with self.lock(task_id):
            return self.update_locked(task_id, **changes)

    def update_locked(self, task_id: str, /, **changes: t.Any) -> TaskRecord:
        """``update`` for a caller that already holds the task's lock."""
        task = self.read(task_id)
        when = now()
        if "state" in changes and changes["state"] != task.state:
            changes.setdefault("state_since", when)
        task = dataclasses.replace(task, updated_at=when, **changes)
        atomic_write(self._file(task_id), kvfile.dumps(to_kv(task)))
        return task

    def list(self) -> builtins.list[TaskRecord]:
        """Every task of the project, oldest first."""
        return sorted(self._each(), key=lambda task: int(task.id[5:]))

    def _each(self) -> Iterator[TaskRecord]:
        try:
            names = os.listdir(self.dir)
        except (FileNotFoundError, NotADirectoryError):
            return
        for name in names:
            if TASK_ID_RE.fullmatch(name):
                try:
                    yield self.read(name)
                except (NotFoundError, UnreadableStateError):
                    continue
