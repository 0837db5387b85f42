"""Session metadata on disk: one key=value file per session, written under one lock discipline.

Every writer (CLI, watcher, agent hooks) goes through ``SessionStore.update`` or
``SessionStore.create``: read, merge, write atomically, all under the session's lock.
Unknown keys are preserved, so newer writers never lose what older ones do not know.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import os
import re
import time
from collections.abc import Iterator, Mapping
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
from ao.store.paths import ProjectPaths

SCHEMA = "1"
SESSION_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
# archive/{id}_{UTC stamp}[-n]: matched whole, since ids may themselves contain "_"
ARCHIVE_SUFFIX = r"_\d{8}T\d{6}Z(?:-\d+)?"

# Every status a session can be in, defined once (the lifecycle's table moves between
# them): waiting to start, live (agent-driven, then PR-driven), and ended.
STATUSES = (
    "queued", "spawning", "working", "ready", "needs_input", "stuck", "blocked",
    "pr_open", "ci_failed", "review_pending", "changes_requested", "approved", "mergeable",
    "merged", "done", "errored", "killed", "exited",
)  # fmt: skip
ENDED_STATUSES = ("errored", "exited", "killed", "done", "merged")


def now_iso() -> str:
    """The current UTC time as an ISO-8601 string with a Z suffix."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclasses.dataclass(frozen=True)
class Session:
    """A read-only view of one session's metadata."""

    data: Mapping[str, str]

    def get(self, key: str, default: str = "") -> str:
        """A metadata value, or ``default`` when absent."""
        return self.data.get(key, default)

    @property
    def id(self) -> str:
        return self.data["id"]

    @property
    def project(self) -> str:
        return self.get("project")

    @property
    def status(self) -> str:
        return self.get("status", "unknown")

    @property
    def worktree(self) -> Path | None:
        value = self.get("worktree")
        return Path(value) if value else None


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

    def reserve(self, prefix: str, *, name: str | None = None, initial: Mapping[str, str]) -> str:
        """Atomically claim a new session id (``{prefix}-{N}``, or ``name``) and write its file.

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
            data = {"schema": SCHEMA, "id": session_id, "created_at": now_iso(), **initial}
            atomic_create(self._file(session_id), kvfile.dumps(data))
        return session_id

    def exists(self, session_id: str) -> bool:
        """Whether the session has a live (not archived) record."""
        return self._file(session_id).is_file()

    def read(self, session_id: str) -> Session:
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
        data = kvfile.loads(text)
        data.setdefault("id", session_id)
        return Session(data)

    def update(self, session_id: str, changes: Mapping[str, str | None]) -> Session:
        """Merge ``changes`` into the record under its lock; a None value deletes the key."""
        with self.lock(session_id):
            data = dict(self.read(session_id).data)
            for key, value in changes.items():
                if value is None:
                    data.pop(key, None)
                else:
                    data[key] = value
            data["schema"] = SCHEMA
            data["updated_at"] = now_iso()
            atomic_write(self._file(session_id), kvfile.dumps(data))
        return Session(data)

    def list(self) -> list[Session]:
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

    def archive(self, session_id: str, changes: Mapping[str, str | None] | None = None) -> Path:
        """Move the record to ``archive/{id}_{timestamp}`` (never deleted silently)."""
        with self.lock(session_id):
            data = dict(self.read(session_id).data)
            for key, value in (changes or {}).items():
                if value is None:
                    data.pop(key, None)
                else:
                    data[key] = value
            data["archived_at"] = now_iso()
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            self.paths.archive.mkdir(parents=True, exist_ok=True)
            dest = self.paths.archive / f"{session_id}_{stamp}"
            n = 1
            while dest.exists():
                n += 1
                dest = self.paths.archive / f"{session_id}_{stamp}-{n}"
            atomic_write(dest, kvfile.dumps(data))
            self._file(session_id).unlink()
        with contextlib.suppress(FileNotFoundError):
            self._lock(session_id).unlink()
        return dest

    def archived(self, session_id: str) -> tuple[Path, Session] | None:
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
                data = kvfile.loads(latest.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError) as exc:
                diagnostics.warn(f"skipped archived record {latest} ({_why(exc)})")
                continue
            data.setdefault("id", session_id)
            return latest, Session(data)
        return None

    def archived_all(self) -> builtins.list[Session]:
        """Every archived record, oldest file name first; unreadable ones are skipped."""
        if not self.paths.archive.is_dir():
            return []
        records = []
        for path in sorted(self.paths.archive.iterdir()):
            if path.name.startswith("."):
                continue
            try:
                records.append(Session(kvfile.loads(path.read_text(encoding="utf-8"))))
            except (OSError, UnicodeDecodeError) as exc:
                diagnostics.warn(
                    f"skipped archived record {path} ({_why(exc)}); `ao gc` moves it aside"
                )
        return records

    def unarchive(self, archived_path: Path, changes: Mapping[str, str | None]) -> Session:
        """Bring an archived record back to ``sessions/`` (for ``ao restore``)."""
        data = kvfile.loads(archived_path.read_text(encoding="utf-8"))
        session_id = data["id"]
        with self.lock(session_id):
            if self.exists(session_id):
                raise ConflictError(f"session {session_id!r} is already live")
            for key, value in changes.items():
                if value is None:
                    data.pop(key, None)
                else:
                    data[key] = value
            data.pop("archived_at", None)
            atomic_write(self._file(session_id), kvfile.dumps(data))
            archived_path.unlink()
        return Session(data)


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


def _sort_key(session: Session) -> tuple[str, int, str]:
    m = re.match(r"^(.*)-(\d+)$", session.id)
    if m:
        return (m.group(1), int(m.group(2)), "")
    return (session.id, 0, session.id)
