"""``ao doctor``: checks that ao can work on this machine, each PASS, WARN or FAIL."""

from __future__ import annotations

import os
import re
import shutil
import sys
import typing as t

from ao.sdk import proc


class Check(t.NamedTuple):
    """One check's result."""

    name: str
    level: str  # PASS | WARN | FAIL
    detail: str


def _version(argv: list[str]) -> str | None:
    try:
        r = proc.run(argv, timeout=10, check=False)
    except Exception:
        return None
    return r.stdout.strip() or r.stderr.strip() or None


def run_checks() -> list[Check]:
    """Every check, in the order a user should fix them."""
    checks = [
        Check("python", "PASS" if sys.version_info >= (3, 11) else "FAIL", sys.version.split()[0])
    ]
    tmux = _version(["tmux", "-V"]) if shutil.which("tmux") else None
    if tmux is None:
        checks.append(Check("tmux", "FAIL", "tmux not found on PATH; install tmux 3.0 or newer"))
    else:
        m = re.search(r"(\d+)\.(\d+)", tmux)
        ok = bool(m) and (int(m.group(1)), int(m.group(2))) >= (3, 0)  # type: ignore[union-attr]
        checks.append(
            Check("tmux", "PASS" if ok else "FAIL", tmux + ("" if ok else " (need 3.0+)"))
        )
    git = _version(["git", "--version"]) if shutil.which("git") else None
    checks.append(Check("git", "PASS" if git else "FAIL", git or "git not found on PATH"))
    checks += _config_checks()
    checks += _plugin_checks()
    return checks


def _config_checks() -> list[Check]:
    from ao.config import find_config_path, load_config
    from ao.sdk.errors import AoError
    from ao.sdk.home import ao_home

    home = ao_home()
    try:
        from ao.store.locks import write_private

        probe = home / f".doctor-{os.getpid()}"
        write_private(probe, "ok")
        probe.unlink()
        checks = [Check("state dir", "PASS", str(home))]
    except OSError as exc:
        checks = [Check("state dir", "FAIL", f"{home} is not writable: {exc.strerror}")]
    try:
        path = find_config_path()
    except AoError as exc:
        return [*checks, Check("config", "FAIL", str(exc))]
    if path is None:
        return [*checks, Check("config", "WARN", "no config found; run `ao start` in a repository")]
    try:
        loaded = load_config(path)
    except AoError as exc:
        return [*checks, Check("config", "FAIL", str(exc))]
    count = len(loaded.model.projects)
    checks.append(Check("config", "PASS", f"{path} ({count} project{'s' if count != 1 else ''})"))
    for pid, project in loaded.model.projects.items():
        ok = (project.path / ".git").exists()
        detail = str(project.path) if ok else f"{project.path} is not a git repository"
        checks.append(Check(f"project {pid}", "PASS" if ok else "FAIL", detail))
    return checks


def _plugin_checks() -> list[Check]:
    from ao import registry
    from ao.sdk.contracts import SLOTS
    from ao.sdk.errors import AoError

    checks = []
    for slot in SLOTS:
        for name in sorted(registry.available(slot)):
            try:
                # import only: notifiers and others need their options to start
                cls = registry.load_class(slot, name)
                plugin = registry.load(slot, name) if slot == "agent" else cls
            except AoError as exc:
                checks.append(Check(f"{slot} {name}", "FAIL", str(exc)))
                continue
            binary = getattr(plugin, "binary", None)
            if slot == "agent" and binary and not shutil.which(binary):
                checks.append(Check(f"{slot} {name}", "WARN", f"`{binary}` not installed"))
            else:
                checks.append(Check(f"{slot} {name}", "PASS", "loads"))
    return checks
