"""The dashboard's files under ``$AO_HOME``, and how ``ao start`` runs it beside the watcher.

One dashboard (HTTP server, ``ao.web``) serves a config. The process serving it holds
``locks/dashboard-<hash>.lock`` (an ``flock``: the kernel drops it when the process dies,
so a crash never blocks the next one) and says where it listens in
``dashboard-<hash>.json`` (0600, no secret in it). ``dashboard.token`` (0600, one per
``$AO_HOME``) authenticates requests.

``ao start`` runs ``ao dashboard --follow-watcher`` as a detached process (a session of its
own, output in ``dashboard-<hash>.log``) that ends once the config's watcher has ended, so
it never outlives the watcher it was started beside. A process, not a runtime session: gc
ends the namespace's runtime sessions it has no record of, and the dashboard must serve
while the runtime is down.
"""

from __future__ import annotations

import json
import os
import time
import typing as t
from pathlib import Path

from ao.api.base import Base
from ao.sdk.errors import ConfigError
from ao.sdk.home import PRIVATE_FILE_MODE, ao_home, private_dir, tighten
from ao.store.locks import atomic_create, try_lock, write_private
from ao.store.paths import config_hash

if t.TYPE_CHECKING:
    import subprocess

    from ao.api.inventory import DashboardInfo

# the launched dashboards, kept referenced: they outlive this process on purpose
_LAUNCHED: list[subprocess.Popen[bytes]] = []


class Dashboards(Base):
    """The config's dashboard: where it runs, and starting it for ``ao start``."""

    def dashboard(self) -> DashboardInfo | None:
        """The dashboard serving this config (its URL, without the token), or None when
        none runs. ConfigError when there is no config."""
        path = self.config_path
        if path is None:
            raise ConfigError(
                "no agent-orchestrator.yaml found", hint="run `ao start` in a repository"
            )
        return published(path)


def token_path() -> Path:
    """The file holding the dashboard's token (0600)."""
    return ao_home() / "dashboard.token"


def read_token() -> str | None:
    """The dashboard's token, or None when none was made yet."""
    path = token_path()
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    tighten(path)  # an older or hand-made file readable by others
    return text or None


def ensure_token() -> str:
    """The dashboard's token, made (random, 0600) on first use. Two servers starting at
    once agree on one: the file is created exclusively."""
    import secrets  # lazy: only a server makes a token; `ao list` imports this module

    token = read_token()
    if token is not None:
        return token
    token = secrets.token_urlsafe(32)
    path = token_path()
    private_dir(path.parent)
    try:
        atomic_create(path, token + "\n", mode=PRIVATE_FILE_MODE)
    except FileExistsError:
        found = read_token()
        if found is not None:
            return found
        write_private(path, token + "\n")  # an empty file: replace it
    return token


def lock_path(config_path: Path) -> Path:
    """The lock the config's serving dashboard holds."""
    return ao_home() / "locks" / f"dashboard-{config_hash(config_path)}.lock"


def state_path(config_path: Path) -> Path:
    """Where the config's serving dashboard says where it listens."""
    return ao_home() / f"dashboard-{config_hash(config_path)}.json"


def log_path(config_path: Path) -> Path:
    """The output of a dashboard ``ao start`` runs."""
    return ao_home() / f"dashboard-{config_hash(config_path)}.log"


def claim(config_path: Path) -> int | None:
    """Take the config's dashboard lock: the fd to keep while serving, or None when another
    dashboard holds it."""
    return try_lock(lock_path(config_path))


def url_for(host: str, port: int) -> str:
    """The URL of a server bound to ``host``:``port`` (a wildcard bind: its loopback one)."""
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def publish(config_path: Path, *, host: str, port: int, follows_watcher: bool) -> None:
    """Say where this process serves the config's dashboard (it holds the lock)."""
    state = {
        "pid": os.getpid(), "host": host, "port": port, "url": url_for(host, port),
        "config": str(config_path), "follows_watcher": follows_watcher,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }  # fmt: skip
    write_private(state_path(config_path), json.dumps(state) + "\n")


def withdraw(config_path: Path) -> None:
    """Remove what ``publish`` wrote, if this process wrote it."""
    path = state_path(config_path)
    state = _read_state(path)
    if state is not None and state.get("pid") == os.getpid():
        path.unlink(missing_ok=True)


def published(config_path: Path) -> DashboardInfo | None:
    """The dashboard serving ``config_path``, as it published itself, if its process lives."""
    # lazy: only this function needs these, so `ao list` stays light
    from ao.api.inventory import DashboardInfo
    from ao.sdk.proc import pid_alive

    state = _read_state(state_path(config_path))
    if state is None or not pid_alive(state["pid"]):
        return None
    return DashboardInfo(
        url=state["url"], host=state["host"], port=state["port"], pid=state["pid"],
        started_at=str(state.get("started_at", "")),
        follows_watcher=bool(state.get("follows_watcher")),
    )  # fmt: skip


def _read_state(path: Path) -> dict[str, t.Any] | None:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    types = {"pid": int, "host": str, "port": int, "url": str}
    if not isinstance(state, dict) or any(
        not isinstance(state.get(key), kind) for key, kind in types.items()
    ):
        return None
    return state


def watcher_alive(config_path: Path) -> bool:
    """Whether the process that last held the config's watch lock still runs."""
    # lazy: only a dashboard that follows the watcher asks
    from ao.lifecycle.passes import holder
    from ao.sdk.proc import pid_alive
    from ao.store.paths import watch_lock_path

    pid, _ = holder(watch_lock_path(config_path))
    return pid_alive(pid)


def launch(config_path: Path, *, timeout: float = 20.0) -> tuple[str, str, str | None]:
    """Run the config's dashboard beside its watcher unless one runs already.

    Returns (state, detail, url): ``running`` (adopted), ``started`` or ``not started``
    (the detail says why: a busy port names the key to change).
    """
    # lazy: only `ao start` launches; `ao list` imports this module
    import subprocess
    import sys

    info = published(config_path)
    if info is not None:
        return "running", f"pid {info.pid}", info.url
    log = log_path(config_path)
    private_dir(log.parent)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, PRIVATE_FILE_MODE)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ao", "dashboard", "--follow-watcher"],
            cwd=config_path.parent, env={**os.environ, "AO_CONFIG": str(config_path)},
            stdin=subprocess.DEVNULL, stdout=fd, stderr=fd, start_new_session=True,
        )  # fmt: skip
    finally:
        os.close(fd)
    _LAUNCHED.append(proc)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = published(config_path)
        if info is not None:
            return "started", f"pid {info.pid}", info.url
        if proc.poll() not in (None, 0):  # 0: another one won the lock; it publishes soon
            return "not started", _last_line(log), None
        time.sleep(0.1)
    return "not started", f"it did not answer within {timeout:g}s; see {log}", None


def _last_line(log: Path) -> str:
    """The last line the dashboard wrote (its error), without the ``ao: error:`` prefix."""
    try:
        with log.open("rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - 4096))
            lines = fh.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        lines = []
    last = lines[-1].strip() if lines else ""
    return last.removeprefix("ao: error: ") or f"it exited; see {log}"
