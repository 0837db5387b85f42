"""``ao doctor``: checks that ao can work on this machine, each PASS, WARN or FAIL."""

from __future__ import annotations

import contextlib
import os
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
    checks += _runtime_checks()
    git = _version(["git", "--version"]) if shutil.which("git") else None
    checks.append(Check("git", "PASS" if git else "FAIL", git or "git not found on PATH"))
    checks += _config_checks()
    checks += _plugin_checks()
    return checks


def _runtime_checks() -> list[Check]:
    """What each runtime the config uses (the default one without a config) needs on this
    machine, as the runtime plugin itself says (``Runtime.host_checks``). A runtime that
    does not load is left to the plugin checks, which say why."""
    # lazy: only this method needs these, so `ao list` stays light
    from ao import registry
    from ao.config import find_config_path, load_config
    from ao.sdk.errors import AoError

    loaded = None
    with contextlib.suppress(AoError, OSError):
        path = find_config_path()
        loaded = load_config(path, cached=True) if path is not None else None
    from ao.config.snapshot import plain  # lazy: as the loader above

    if loaded is not None:
        model = loaded.model
        names = [model.defaults.runtime, *(p.runtime for p in model.projects.values())]
    else:
        # lazy: pydantic loads only where models are built
        from ao.config.models import Defaults

        names = [Defaults().runtime]
    checks = []
    if names[0] == "process" and shutil.which("tmux") is None:
        checks.append(Check("runtime", "WARN", "tmux is not installed: sessions run on the "
                            "process runtime (install tmux, or set defaults.runtime)"))  # fmt: skip
    for name in dict.fromkeys(n for n in names if n):
        options = {}
        if loaded is not None:
            options = {**(plain(loaded.model.plugins.get(name)) or {}),
                       **loaded.runtime_options(name)}  # fmt: skip
        try:
            found = registry.load("runtime", name, options).host_checks()
        except AoError:
            continue
        checks += [Check(c.name, "PASS" if c.ok else "FAIL", c.detail) for c in found]
    return checks


def _config_checks() -> list[Check]:
    # lazy: only this method needs these, so `ao list` stays light
    from ao.config import find_config_path, load_config
    from ao.sdk.errors import AoError
    from ao.sdk.home import ao_home
    from ao.sdk.redact import redact

    home = ao_home()
    try:
        # lazy: only the state-dir check writes
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
        if not ok and project.url:  # made on first use
            why = f"{project.path} not cloned yet: the first `ao new` clones {redact(project.url)}"
            checks.append(Check(f"project {pid}", "WARN", why))
            continue
        checks.append(Check(f"project {pid}", "PASS" if ok else "FAIL", detail))
    return checks


def _plugin_checks() -> list[Check]:
    # lazy: only this method needs these, so `ao list` stays light
    from ao import registry
    from ao.sdk.contracts import SLOTS
    from ao.sdk.errors import AoError

    checks = []
    for slot in SLOTS:
        for name in sorted(registry.available(slot)):
            try:
                # import only: notifiers and others need their options to start
                registry.load_class(slot, name)
                binary = registry.load("agent", name).binary if slot == "agent" else None
            except AoError as exc:
                checks.append(Check(f"{slot} {name}", "FAIL", str(exc)))
                continue
            if binary and not shutil.which(binary):
                checks.append(Check(f"{slot} {name}", "WARN", f"`{binary}` not installed"))
            else:
                checks.append(Check(f"{slot} {name}", "PASS", "loads"))
    return checks
