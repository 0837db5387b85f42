"""A small on-disk JSON cache for forge plugins, under ``$AO_HOME/cache/<forge>/<endpoint>/``.

The GitHub and GitLab plugins keep in it ETags with the bodies they stand for (so a 304
answer can be served from disk), the pull-request snapshots ``pr_states`` reuses while
nothing changed, log excerpts of finished CI jobs, and the rate-limit budget. Entries
are written atomically (unique temporary file + rename), so concurrent ao processes and
threads never read a half-written entry; a corrupt or unreadable entry reads as missing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
import typing as t
import uuid
from pathlib import Path

from ao.sdk.home import ao_home


def _private_dirs(directory: Path) -> None:
    """Create ``directory`` and its missing parents for the owner only (0700)."""
    missing = []
    while not directory.is_dir():
        missing.append(directory)
        if directory.parent == directory:
            break
        directory = directory.parent
    for created in reversed(missing):
        with contextlib.suppress(FileExistsError):
            created.mkdir(0o700)


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``; readers see the old or the new content, never half.

    The file is readable by its owner only (0600), in directories ao creates as 0700.
    """
    _private_dirs(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.{uuid.uuid4().hex}")
    try:
        with os.fdopen(
            os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8"
        ) as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def cache_root(forge: str, api_url: str) -> Path:
    """The cache directory of one API endpoint of ``forge`` (e.g. an Enterprise host)."""

    digest = hashlib.sha256(api_url.rstrip("/").encode()).hexdigest()[:12]
    return ao_home() / "cache" / forge / digest


class DiskCache:
    """JSON values by string key, one file per key in ``root/<namespace>/``."""

    def __init__(self, root: Path, namespace: str) -> None:
        self.dir = root / namespace

    def _file(self, key: str) -> Path:
        return self.dir / (hashlib.sha256(key.encode()).hexdigest()[:40] + ".json")

    def get(self, key: str) -> t.Any:
        """The value stored under ``key``, or None."""
        try:
            doc = json.loads(self._file(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return doc.get("value") if isinstance(doc, dict) and doc.get("key") == key else None

    def put(self, key: str, value: t.Any) -> None:
        """Store ``value`` under ``key`` (best effort: a full disk only costs a cache miss)."""
        with contextlib.suppress(OSError):
            write_atomic(
                self._file(key), json.dumps({"key": key, "at": time.time(), "value": value})
            )

    def delete(self, key: str) -> None:
        """Forget ``key``."""
        with contextlib.suppress(OSError):
            self._file(key).unlink()

    def prune(self, max_age: float) -> int:
        """Remove entries not written for ``max_age`` seconds; returns how many."""
        removed = 0
        cutoff = time.time() - max_age
        with contextlib.suppress(OSError):
            for path in self.dir.iterdir():
                with contextlib.suppress(OSError):
                    if path.stat().st_mtime < cutoff:
                        path.unlink()
                        removed += 1
        return removed


STALE_AFTER = 30 * 86400.0  # seconds an entry may go unused before ``ao gc`` prunes it


def stale_entries(root: Path, now: float | None = None) -> list[Path]:
    """Cache files (and leftover temporaries) neither written nor read for STALE_AFTER.

    A read that the kernel records (``relatime``: at least daily) counts as use, so an
    ETag still answered by 304s stays; pruning one costs a single full request later.
    """
    cutoff = (time.time() if now is None else now) - STALE_AFTER
    found = []
    for path in root.rglob("*.json*") if root.is_dir() else ():
        with contextlib.suppress(OSError):
            info = path.stat()
            if path.is_file() and max(info.st_atime, info.st_mtime) < cutoff:
                found.append(path)
    return sorted(found)
