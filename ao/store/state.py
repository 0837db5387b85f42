"""Session records on disk: one key=value file per session, written under one lock discipline.

Every writer (CLI, watcher, agent hooks) goes through ``SessionStore.update`` or
``SessionStore.reserve``: read, merge, write atomically, all under the session's lock.
Records are parsed once into typed ``SessionRecord``s (``ao.store.record``); keys this
ao does not know are preserved, so newer writers never lose what older ones do not know.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import os
import re
import time
import typing as t
from collections.abc import Iterator
from pathlib import Path

from ao.sdk.errors import (
    ConflictError,
    NotFoundError,
    SessionBusyError,
    UnreadableStateError,
    UsageError,
)
from ao.store import diagnostics, kvfile
from ao.store.locks import atomic_create, atomic_write, locked
from ao.store.paths import SESSION_ID_RE, ProjectPaths
from ao.store.record import (
    ENDED_STATUSES,
    SCHEMA,
    STATUSES,
    Changes,
    SessionRecord,
    Status,
    Step,
    apply,
    now,
    parse,
    to_kv,
)

__all__ = [
    "ENDED_STATUSES", "SESSION_ID_RE", "STATUSES", "Session", "SessionRecord", "SessionStore",
    "Status", "Step", "validate_session_id",
]  # fmt: skip

Session = SessionRecord  # the name the core has always used for a session's record
# archive/{id}_{UTC stamp}[-n]: matched whole, since ids may themselves contain "_"
ARCHIVE_SUFFIX = r"_\d{8}T\d{6}Z(?:-\d+)?"


def validate_session_id(session_id: str) -> str:
    """Reject ids that are not safe as file and runtime session names."""
    if not SESSION_ID_RE.fullmatch(session_id):
        raise UsageError(
            f"invalid session name {session_id!r}",
            hint="use lowercase letters, digits, '-' and '_' (at most 64, starting alphanumeric)",
        )
    return session_id


class SessionStore:
    """The sessions of one project namespace."""

    def __init__(self, paths: ProjectPaths) -> None:
        self.paths = paths

    def _file(self, session_id: str) -> Path:
        return self.paths.sessions / session_id

    def _lock(self, session_id: str) -> Path:
        return self.paths.locks / f"session-{session_id}.lock"

    @contextlib.contextmanager
    def lock(self, session_id: str) -> Iterator[None]:
        """Hold the session's write lock (one read-merge-write of its record)."""
        with locked(self._lock(session_id)):
            yield

    @contextlib.contextmanager
    def operation(self, session_id: str, *, timeout: float = 60.0) -> Iterator[None]:
        """Hold the session's operation lock for a whole multi-step operation.

        Spawn, send, stop and restore each hold it from their first step to their last,
        so two of them never interleave on one session (a stop racing a restore, two
        pastes merging into one input line). It is taken before the record lock, never
        inside it; the kernel drops it when its holder dies.
        """
        try:
            with locked(self.paths.locks / f"op-{session_id}.lock", timeout=timeout):
                yield
        except ConflictError as exc:
            if "could not lock" not in exc.message:
                raise
            raise SessionBusyError(
                f"session {session_id} is busy: another ao command has been working on it "
                f"for {timeout:g}s",
                hint="retry when it finishes",
            ) from None

    def _used_numbers(self, prefix: str) -> set[int]:
        pattern = re.compile(rf"{re.escape(prefix)}-(\d+)(?:_.*)?")
        used = set()
        for directory in (self.paths.sessions, self.paths.archive):
            if directory.is_dir():
                for name in os.listdir(directory):
                    m = pattern.fullmatch(name)
                    if m:
                        used.add(int(m.group(1)))
        return used

    def reserve(self, prefix: str, *, name: str | None = None, **initial: t.Unpack[Changes]) -> str:
        """Atomically claim a new session id (``{prefix}-{N}``, or ``name``) and write its
        record with ``initial``.

        N is never reused, even after a session is archived, so branches and logs of old
        sessions never collide with new ones.
        """
        self.paths.ensure()
        with locked(self.paths.locks / "ids.lock"):
            if name is not None:
                session_id = validate_session_id(name)
                if self.exists(session_id):
                    raise ConflictError(
                        f"session {session_id!r} already exists",
                        hint="pick another --name, or `ao stop` the existing one",
                    )
            else:
                used = self._used_numbers(prefix)
                session_id = f"{prefix}-{max(used, default=0) + 1}"
            fresh = SessionRecord(id=session_id, schema=SCHEMA, created_at=now())
            record = apply(fresh, initial)
            atomic_create(self._file(session_id), kvfile.dumps(to_kv(record)))
        return session_id

    def exists(self, session_id: str) -> bool:
        """Whether the session has a live (not archived) record."""
        return self._file(session_id).is_file()

    def read(self, session_id: str) -> SessionRecord:
        """Load one session; NotFoundError when there is no such record."""
        path = self._file(session_id)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise NotFoundError(f"no session {session_id!r}", hint="see `ao list`") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UnreadableStateError(
                f"session file {path} cannot be read ({_why(exc)})",
                hint="`ao gc` moves it aside to quarantine/",
            ) from None
        return parse(kvfile.loads(text), session_id=session_id, source=f"session file {path}")

    def update(self, session_id: str, /, **changes: t.Unpack[Changes]) -> SessionRecord:
        """Merge ``changes`` into the record under its lock (``None`` removes a field) and
        write it atomically; returns the record as written."""
        with self.lock(session_id):
            changes["updated_at"] = now()
            record = _stamped(apply(self.read(session_id), changes))
            atomic_write(self._file(session_id), kvfile.dumps(to_kv(record)))
        return record

    def list(self) -> list[SessionRecord]:
        """Every live session record, ordered by id number then name."""
        if not self.paths.sessions.is_dir():
            return []
        sessions = []
        for name in os.listdir(self.paths.sessions):
            if name.startswith(".") or not SESSION_ID_RE.fullmatch(name):
                continue
            try:
                sessions.append(self.read(name))
            except NotFoundError:
                continue  # archived meanwhile
            except UnreadableStateError as exc:
                diagnostics.warn(f"skipped {exc.message}; `ao gc` moves it aside")
        return sorted(sessions, key=_sort_key)

    def unreadable(self) -> builtins.list[Path]:
        """Entries of ``sessions/`` and ``archive/`` that cannot be read as records."""
        found = []
        for directory in (self.paths.sessions, self.paths.archive):
            if not directory.is_dir():
                continue
            for path in sorted(directory.iterdir()):
                if path.name.startswith("."):
                    continue
                try:
                    kvfile.loads(path.read_text(encoding="utf-8"))
                except (OSError, UnicodeDecodeError):
                    found.append(path)
        return found

    def quarantine(self, path: Path) -> Path:
        """Move an unreadable record out of the way to ``quarantine/`` (never deleted)."""
        dest_dir = self.paths.root / "quarantine"
        dest_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        dest = dest_dir / f"{path.parent.name}-{path.name}_{stamp}"
        n = 1
        while dest.exists():
            n += 1
            dest = dest_dir / f"{path.parent.name}-{path.name}_{stamp}-{n}"
        path.rename(dest)
        return dest

    def archive(self, session_id: str, /, **changes: t.Unpack[Changes]) -> Path:
        """Move the record, with ``changes``, to ``archive/{id}_{timestamp}`` (never
        deleted silently)."""
        with self.lock(session_id):
            changes["archived_at"] = now()
            record = _stamped(apply(self.read(session_id), changes))
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            self.paths.archive.mkdir(parents=True, exist_ok=True)
            dest = self.paths.archive / f"{session_id}_{stamp}"
            n = 1
            while dest.exists():
                n += 1
                dest = self.paths.archive / f"{session_id}_{stamp}-{n}"
            atomic_write(dest, kvfile.dumps(to_kv(record)))
            self._file(session_id).unlink()
        with contextlib.suppress(FileNotFoundError):
            self._lock(session_id).unlink()
        return dest

    def archived(self, session_id: str) -> tuple[Path, SessionRecord] | None:
        """The newest archived record of ``session_id``, if any."""
        if not self.paths.archive.is_dir():
            return None
        name = re.compile(re.escape(session_id) + ARCHIVE_SUFFIX)
        candidates = sorted(
            (p for p in self.paths.archive.iterdir() if name.fullmatch(p.name)),
            key=_archive_order,
        )
        for latest in reversed(candidates):
            try:
                return latest, self._read_archived(latest, session_id)
            except (OSError, UnicodeDecodeError) as exc:
                diagnostics.warn(f"skipped archived record {latest} ({_why(exc)})")
        return None

    def archived_all(self) -> builtins.list[SessionRecord]:
        """Every archived record, oldest file name first; unreadable ones are skipped."""
        if not self.paths.archive.is_dir():
            return []
        records = []
        for path in sorted(self.paths.archive.iterdir()):
            if path.name.startswith("."):
                continue
            try:
                records.append(self._read_archived(path))
            except (OSError, UnicodeDecodeError) as exc:
                diagnostics.warn(
                    f"skipped archived record {path} ({_why(exc)}); `ao gc` moves it aside"
                )
        return records

    def _read_archived(self, path: Path, session_id: str | None = None) -> SessionRecord:
        """An archived record; a missing ``id=`` is the one its file name carries."""
        if session_id is None:
            session_id = re.sub(ARCHIVE_SUFFIX + "$", "", path.name)
        text = path.read_text(encoding="utf-8")
        source = f"archived record {path}"
        return parse(kvfile.loads(text), session_id=session_id, source=source)

    def unarchive(self, archived_path: Path, /, **changes: t.Unpack[Changes]) -> SessionRecord:
        """Bring an archived record back to ``sessions/`` with ``changes`` (``ao restore``)."""
        archived = self._read_archived(archived_path)
        with self.lock(archived.id):
            if self.exists(archived.id):
                raise ConflictError(f"session {archived.id!r} is already live")
            changes["archived_at"] = None
            record = _stamped(apply(archived, changes))
            atomic_write(self._file(archived.id), kvfile.dumps(to_kv(record)))
            archived_path.unlink()
        return record


def _stamped(record: SessionRecord) -> SessionRecord:
    """``record`` as this ao writes it, with its format's version: a newer version's
    number is kept, never lowered."""
    if record.schema is not None and record.schema >= SCHEMA:
        return record
    extra = {k: v for k, v in record.extra.items() if k != "schema"}  # unreadable: replaced
    return dataclasses.replace(record, schema=max(record.version, SCHEMA), extra=extra)


def _why(exc: BaseException) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    if isinstance(exc, IsADirectoryError):
        return "a directory, not a file"
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return type(exc).__name__


def _archive_order(path: Path) -> tuple[str, int]:
    """Oldest first: by stamp, then by the ``-n`` of records archived in the same second."""
    stamp, _, n = path.name.rpartition("_")[2].partition("-")
    return stamp, int(n or 1)


def _sort_key(session: SessionRecord) -> tuple[str, int, str]:
    m = re.match(r"^(.*)-(\d+)$", session.id)
    if m:
        return (m.group(1), int(m.group(2)), "")
    return (session.id, 0, session.id)
