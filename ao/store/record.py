"""The typed session record: one ``key=value`` file, parsed once into a ``SessionRecord``.

Every key the core writes has a field of a real type here (``Status``/``Step`` enums,
ints, bools, ``Path``, UTC datetimes, epoch seconds) and this module alone knows how each
is spelled on disk (``1``/``0``, ISO-8601 with ``Z``, ``%.3f`` seconds). Everything
else in the file (an agent adapter's own keys, keys a newer ao wrote) is kept verbatim
in ``extra`` and written back unchanged.

A value of a known key that does not parse (a hand edit, a value a newer ao invented)
never hides the session: it stays in ``extra`` as written, the field reads as unset,
and ``ao.store.diagnostics`` warns once. Values ao writes round-trip exactly
(``to_kv(parse(kv)) == kv``); a parseable value in another spelling (``007``, a
``+02:00`` offset) keeps its meaning and is written back, on the next change, in ao's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import re
import typing as t
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType

from ao.store import diagnostics
from ao.store.handles import NAME_KEY, TARGET_KEY

SCHEMA = 1  # the version of the record format this ao writes


class Status(enum.StrEnum):
    """Every status a session can be in, defined once (the lifecycle's table moves
    between them): waiting to start, live (agent-driven, then PR-driven), and ended."""

    QUEUED = "queued"
    SPAWNING = "spawning"
    WORKING = "working"
    READY = "ready"
    NEEDS_INPUT = "needs_input"
    STUCK = "stuck"
    BLOCKED = "blocked"
    PR_OPEN = "pr_open"
    CI_FAILED = "ci_failed"
    REVIEW_PENDING = "review_pending"
    CHANGES_REQUESTED = "changes_requested"
    APPROVED = "approved"
    MERGEABLE = "mergeable"
    MERGED = "merged"
    DONE = "done"
    ERRORED = "errored"
    KILLED = "killed"
    EXITED = "exited"


STATUSES = tuple(Status)
ORCHESTRATOR = "orchestrator"  # the role of a session that plans and delegates
ENDED_STATUSES = (Status.ERRORED, Status.EXITED, Status.KILLED, Status.DONE, Status.MERGED)


class Step(enum.StrEnum):
    """The spawn (or restore) journal: the last step that finished."""

    RESERVED = "reserved"
    WORKSPACE_CREATING = "workspace-creating"  # the branch name is recorded, the checkout not
    WORKSPACE = "workspace"
    RUNTIME = "runtime"
    DONE = "done"
    ROLLED_BACK = "rolled-back"
    RESTORING = "restoring"


class Bookkeeping(t.NamedTuple):
    """One reaction's retry state, stored as ``rx_<reaction>_{sig,n,first,last,esc}``."""

    signature: str | None = None  # the situation this budget is for (e.g. head SHA + checks)
    attempts: int | None = None
    first_at: float | None = None  # epoch seconds of the first attempt on this signature
    last_at: float | None = None  # epoch seconds of the latest attempt or escalation
    escalated: str | None = None  # the signature a human was told about


_EMPTY: Mapping[str, t.Any] = MappingProxyType({})


# __init__, __eq__ and __repr__ are written out: generated for 40 fields they cost every
# `ao list` a millisecond of import
@dataclasses.dataclass(frozen=True, init=False, eq=False, repr=False)
class SessionRecord:
    """One session's record. ``None`` means the key is not in the file."""

    id: str
    schema: int | None = None  # the format's version; None: no ``schema=`` (version 1)
    project: str | None = None
    agent: str | None = None
    runtime: str | None = None  # the runtime plugin's name
    workspace: str | None = None  # the workspace plugin's name
    task: str | None = None
    status: Status | None = None
    status_since: dt.datetime | None = None
    status_reason: str | None = None
    step: Step | None = None
    spawner_pid: int | None = None  # the `ao new`/`ao restore` process building it
    prompt_delivery: str | None = None
    error: str | None = None
    restore_error: str | None = None
    branch_requested: str | None = None  # `--branch`: the session did not name it itself
    base_requested: str | None = None  # `--base`/`--from`: start from this branch, not the default
    host_requested: str | None = None  # `--host`: where the runtime is to place it
    role: str | None = None  # "orchestrator": an agent that plans and delegates (`ao orchestrate`)
    branch: str | None = None
    base: str | None = None
    worktree: Path | None = None
    created_branch: bool | None = None
    port_block: int | None = None
    runtime_name: str | None = None  # the runtime's handle (``ao.store.handles``)
    runtime_target: str | None = None
    pr: str | None = None  # the pull request's URL
    pr_number: int | None = None
    pr_head: str | None = None
    issue: str | None = None
    issue_url: str | None = None
    issue_title: str | None = None
    worktree_removed: bool | None = None
    snapshot: str | None = None  # the WIP commit a forced stop saved uncommitted work in
    saved: Path | None = None  # where a forced stop moved ignored files and nested repos
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    restored_at: dt.datetime | None = None
    repaired_at: dt.datetime | None = None
    stopped_at: dt.datetime | None = None
    archived_at: dt.datetime | None = None
    reactions: Mapping[str, Bookkeeping] = dataclasses.field(default_factory=dict)
    extra: Mapping[str, str] = dataclasses.field(default_factory=dict)  # other keys, as written
    # the mapping ``as_kv`` gives: the file as read, or ``to_kv`` once asked
    _kv: Mapping[str, str] | None = dataclasses.field(default=None, init=False)

    def __init__(self, id: str, *, schema: int | None = None, **fields: t.Unpack[Changes]):
        vars(self).update(_BLANK, id=id, schema=schema, **fields)

    @property
    def version(self) -> int:
        """The version of the format the record is in (a record without one is version 1)."""
        return 1 if self.schema is None else self.schema

    @property
    def status_text(self) -> str | None:
        """The status as the file says it, one this ao does not know (a newer ao's)
        included, for showing; None when there is none."""
        return self.status if self.status is not None else self.extra.get("status")

    def as_kv(self) -> Mapping[str, str]:
        """The record as a flat ``key=value`` mapping: what agent adapters receive
        (``Observation.session``, ``resume``, ``session_info``). For a record read from
        its file, the file as read; for one made or changed here, ``to_kv``."""
        kv = self._kv
        if kv is None:
            kv = MappingProxyType(to_kv(self))
            object.__setattr__(self, "_kv", kv)
        return kv

    @property
    def data(self) -> Mapping[str, str]:
        """``as_kv()`` under its old name, for callers written before the typed record."""
        return self.as_kv()

    def _fields(self) -> dict[str, object]:
        return {k: v for k, v in vars(self).items() if k != "_kv"}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SessionRecord):
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # it holds mappings

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self._fields().items() if v is not None)
        return f"SessionRecord({shown})"


class Changes(t.TypedDict, total=False):
    """The fields of a record but its id and version: to make one (``SessionRecord``)
    or to change one (``SessionStore.update``, where ``None`` removes a key, and
    ``reactions`` and ``extra`` are merged into the recorded ones key by key)."""

    project: str | None
    agent: str | None
    runtime: str | None
    workspace: str | None
    task: str | None
    status: Status | None
    status_since: dt.datetime | None
    status_reason: str | None
    step: Step | None
    spawner_pid: int | None
    prompt_delivery: str | None
    error: str | None
    restore_error: str | None
    branch_requested: str | None
    base_requested: str | None
    host_requested: str | None
    role: str | None
    branch: str | None
    base: str | None
    worktree: Path | None
    created_branch: bool | None
    port_block: int | None
    runtime_name: str | None
    runtime_target: str | None
    pr: str | None
    pr_number: int | None
    pr_head: str | None
    issue: str | None
    issue_url: str | None
    issue_title: str | None
    worktree_removed: bool | None
    snapshot: str | None
    saved: Path | None
    created_at: dt.datetime | None
    updated_at: dt.datetime | None
    restored_at: dt.datetime | None
    repaired_at: dt.datetime | None
    stopped_at: dt.datetime | None
    archived_at: dt.datetime | None
    reactions: Mapping[str, Bookkeeping]
    extra: Mapping[str, str]


# ----------------------------------------------------------------------------- spellings


def now() -> dt.datetime:
    """The current UTC time, to the second (what records store)."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def timestamp(when: dt.datetime) -> str:
    """``when`` as records (and the ``--json`` documents) spell it: ISO-8601, UTC, ``Z``."""
    if when.tzinfo is not dt.UTC:
        when = when.astimezone(dt.UTC)
    return when.isoformat().removesuffix("+00:00") + "Z"


def reaction_key(reaction: str) -> str:
    """The name of ``reaction``'s bookkeeping in ``SessionRecord.reactions``."""
    return reaction.replace("-", "_")


def _text(raw: str) -> str:
    return raw


def _count(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()):  # int() also takes " 7", "1_0", "٣"
        raise ValueError(raw)
    return int(raw)


_DECIMAL = re.compile(r"\d+(?:\.\d+)?")


def _seconds(raw: str) -> float:
    if not _DECIMAL.fullmatch(raw):  # float() also takes "nan", "inf", " 1"
        raise ValueError(raw)
    return float(raw)


def _flag(raw: str) -> bool:
    if raw == "1":
        return True
    if raw == "0":
        return False
    raise ValueError(raw)


def _time(raw: str) -> dt.datetime:
    when = dt.datetime.fromisoformat(raw)
    if when.tzinfo is None:
        return when.replace(tzinfo=dt.UTC)
    try:
        return when.astimezone(dt.UTC)
    except OverflowError:  # 9999-12-31T23:00:00-05:00 is past the last UTC datetime
        raise ValueError(raw) from None


def _path(raw: str) -> Path:
    if not raw:
        raise ValueError(raw)
    return Path(raw)


class _Codec:
    """How one kind of value is read from and written to the file."""

    __slots__ = ("decode", "encode", "what")

    def __init__(self, decode: Callable[[str], object], encode: Callable[[t.Any], str], what: str):
        self.decode = decode
        self.encode = encode
        self.what = what  # what a value must be, for the warning about one that is not


_TEXT = _Codec(_text, _text, "text")
_COUNT = _Codec(_count, str, "a whole number")
_FLAG = _Codec(_flag, lambda v: "1" if v else "0", "1 or 0")
_TIME = _Codec(_time, timestamp, "an ISO-8601 time")
_PATH = _Codec(_path, str, "a path")
_SECONDS = _Codec(_seconds, lambda v: f"{v:.3f}", "a number of seconds")

# field -> (key in the file, codec); the key is the field's name except the handle's
_FIELDS: dict[str, tuple[str, _Codec]] = {
    "id": ("id", _TEXT),
    "schema": ("schema", _COUNT),
    "project": ("project", _TEXT),
    "agent": ("agent", _TEXT),
    "runtime": ("runtime", _TEXT),
    "workspace": ("workspace", _TEXT),
    "task": ("task", _TEXT),
    "status": ("status", _Codec(Status, str, "a status ao knows")),
    "status_since": ("status_since", _TIME),
    "status_reason": ("status_reason", _TEXT),
    "step": ("step", _Codec(Step, str, "a spawn step ao knows")),
    "spawner_pid": ("spawner_pid", _COUNT),
    "prompt_delivery": ("prompt_delivery", _TEXT),
    "error": ("error", _TEXT),
    "restore_error": ("restore_error", _TEXT),
    "branch_requested": ("branch_requested", _TEXT),
    "base_requested": ("base_requested", _TEXT),
    "host_requested": ("host_requested", _TEXT),
    "role": ("role", _TEXT),
    "branch": ("branch", _TEXT),
    "base": ("base", _TEXT),
    "worktree": ("worktree", _PATH),
    "created_branch": ("created_branch", _FLAG),
    "port_block": ("port_block", _COUNT),
    "runtime_name": (NAME_KEY, _TEXT),
    "runtime_target": (TARGET_KEY, _TEXT),
    "pr": ("pr", _TEXT),
    "pr_number": ("pr_number", _COUNT),
    "pr_head": ("pr_head", _TEXT),
    "issue": ("issue", _TEXT),
    "issue_url": ("issue_url", _TEXT),
    "issue_title": ("issue_title", _TEXT),
    "worktree_removed": ("worktree_removed", _FLAG),
    "snapshot": ("snapshot", _TEXT),
    "saved": ("saved", _PATH),
    "created_at": ("created_at", _TIME),
    "updated_at": ("updated_at", _TIME),
    "restored_at": ("restored_at", _TIME),
    "repaired_at": ("repaired_at", _TIME),
    "stopped_at": ("stopped_at", _TIME),
    "archived_at": ("archived_at", _TIME),
}
_BY_KEY = {key: (field, codec) for field, (key, codec) in _FIELDS.items()}
_BLANK: dict[str, object] = {**dict.fromkeys(_FIELDS), "reactions": _EMPTY, "extra": _EMPTY}
_ENCODE = [(field, key, codec.encode) for field, (key, codec) in _FIELDS.items()]
# suffix of an ``rx_<reaction>_<suffix>`` key -> (Bookkeeping field, codec)
_BOOK: dict[str, tuple[str, _Codec]] = {
    "sig": ("signature", _TEXT),
    "n": ("attempts", _COUNT),
    "first": ("first_at", _SECONDS),
    "last": ("last_at", _SECONDS),
    "esc": ("escalated", _TEXT),
}
_SUFFIX = {field: suffix for suffix, (field, _) in _BOOK.items()}
_BOOK_ENCODE = [(_SUFFIX[f], _BOOK[_SUFFIX[f]][1].encode) for f in Bookkeeping._fields]


# ----------------------------------------------------------------------------- parse, write


def parse(kv: Mapping[str, str], *, session_id: str = "", source: str = "") -> SessionRecord:
    """The record a ``key=value`` mapping holds.

    ``session_id`` stands in for a missing ``id=``; ``source`` (the file) names where a
    malformed value was found in the warning about it.
    """
    values: dict[str, t.Any] = {}
    extra: dict[str, str] = {}
    books: dict[str, dict[str, t.Any]] = {}
    for key, raw in kv.items():
        known = _BY_KEY.get(key)
        if known is None and key.startswith("rx_"):
            stem, _, suffix = key[3:].rpartition("_")
            book = _BOOK.get(suffix) if stem else None
            if book is not None:
                try:
                    books.setdefault(stem, {})[book[0]] = book[1].decode(raw)
                except ValueError:
                    extra[key] = raw
                    _warn(source or f"session {kv.get('id', session_id)}", key, raw, book[1])
                continue
        if known is None:
            extra[key] = raw
            continue
        field, codec = known
        if codec is _TEXT:
            values[field] = raw
            continue
        try:
            values[field] = codec.decode(raw)
        except ValueError:
            extra[key] = raw
            _warn(source or f"session {kv.get('id', session_id)}", key, raw, codec)
    if books:
        values["reactions"] = {stem: Bookkeeping(**fields) for stem, fields in books.items()}
    values["extra"] = extra
    values.setdefault("id", session_id)
    # what agents get (``as_kv``) is the file as read, as before the record had types
    values["_kv"] = MappingProxyType({**kv, "id": values["id"]})
    # the same as SessionRecord(**values), without packing its 40 keywords twice:
    # `ao list` and every watcher tick parse every record
    record = object.__new__(SessionRecord)
    fields = vars(record)
    fields.update(_BLANK)
    fields.update(values)
    return record


def _warn(source: str, key: str, raw: str, codec: _Codec) -> None:
    shown = raw if len(raw) <= 60 else raw[:57] + "..."
    diagnostics.warn(
        f"{source}: {key}={shown!r} is not {codec.what}; kept as written, read as unset"
    )


def to_kv(record: SessionRecord) -> dict[str, str]:
    """The ``key=value`` mapping that stores ``record`` (``extra`` verbatim)."""
    kv = dict(record.extra)
    values = vars(record)
    for field, key, encode in _ENCODE:
        value = values[field]
        if value is not None:
            kv[key] = encode(value)
    for stem, book in record.reactions.items():
        for value, (suffix, encode) in zip(book, _BOOK_ENCODE, strict=True):
            if value is not None:
                kv[f"rx_{stem}_{suffix}"] = encode(value)
    return kv


def apply(record: SessionRecord, changes: Changes) -> SessionRecord:
    """``record`` with ``changes`` merged in (see ``Changes``).

    A field that changes drops a malformed value of its key kept in ``extra``, so
    removing a field removes its key from the file whatever it held.
    """
    fields: dict[str, t.Any] = dict(changes)
    extra_changes: Mapping[str, str] = fields.pop("extra", _EMPTY)
    book_changes: Mapping[str, Bookkeeping] = fields.pop("reactions", _EMPTY)
    extra = dict(record.extra)
    for field in fields:
        extra.pop(_FIELDS[field][0], None)
    for stem in book_changes:
        for suffix in _BOOK:
            extra.pop(f"rx_{stem}_{suffix}", None)
    reactions = {**record.reactions, **book_changes}
    changed = dataclasses.replace(record, **fields, reactions=reactions, extra=extra)
    if not extra_changes:
        return changed
    # a known key among them (an adapter may write any key) gets its type
    return parse({**to_kv(changed), **extra_changes}, session_id=record.id)
