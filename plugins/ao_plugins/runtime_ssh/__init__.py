"""The ``ssh`` runtime: sessions in tmux on other machines, reached over SSH.

Each host (``plugins.ssh.hosts``) is the tmux runtime with its tmux calls sent over one
multiplexed SSH connection per host (``ControlMaster``, kept for ten minutes), so a
call costs a round trip, not a handshake. Reads stay batched, all hosts at once: a
``probe`` is one call per host that also brings the live panes' screens, which the
``capture_many`` after it serves, so a listing is one round trip per host. A new session goes to the
host ``ao new --host`` names, else to the one with the most free capacity (free session
slots, then available memory, read in the same call). The agent's environment travels
over the connection's stdin into a 0600 file the pane's shell reads and deletes: never a
command line. The host runs the agent in the session's worktree at the same path as here
(a shared filesystem), which ``create`` checks; or, for a host with ``workdir``, in the
session's own copy of it there (``copies``), which the core brings back before it reads
the worktree.

A host that does not answer is never taken for one whose sessions ended: the sessions
last seen there read ``unreachable`` (``PaneState.unreachable``), and calls that would
change them fail, so nothing is deleted while it is down.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import json
import os
import re
import shlex
import shutil
import time
import typing as t
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ao.sdk import proc
from ao.sdk.contracts import (
    Copying,
    HostCheck,
    Isolating,
    PaneState,
    Placing,
    RuntimeHandle,
    RuntimeSpec,
)
from ao.sdk.errors import AoError, CommandError, ConfigError, NotFoundError, SpawnError
from ao.sdk.home import ao_home, memory_dir, private_dir
from ao.sdk.httpcache import write_atomic
from ao.sdk.options import parse_options
from ao_plugins.runtime_docker import DEFAULT_ENV, passed_names
from ao_plugins.runtime_ssh import copies
from ao_plugins.runtime_tmux import PANE_FORMAT, SOCKET_ENV, TmuxRuntime, parse_panes

UNREACHABLE = 255  # ssh's own exit status when it could not reach the host
PROBE_LINES = 60  # screen lines a probe brings (what listings and the watcher read)
SCREENS_FRESH = 2.0  # seconds a probe's screens stand in for a capture
_MEMORY = "MemAvailable:"


class HostOptions(BaseModel):
    """One entry of ``plugins.ssh.hosts``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    target: str = Field(description="user@host, or a Host alias of ~/.ssh/config.")
    port: int | None = Field(default=None, ge=1, le=65535)
    identity: str | None = Field(default=None, description="A private key file.")
    max_sessions: int = Field(default=8, ge=1, alias="maxSessions")
    options: dict[str, str] = Field(default_factory=dict, description="More `ssh -o` options.")
    workdir: str | None = Field(
        default=None,
        description="An absolute directory on the host for each session's own copy of its "
        "worktree: for a host that does not share ao's filesystem.",
    )

    @field_validator("workdir")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError(f"must be an absolute path on the host, not {value!r}")
        return value.rstrip("/") or "/" if value is not None else None


class SshOptions(BaseModel):
    """``plugins.ssh`` in the config."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    hosts: dict[str, HostOptions] = Field(default_factory=dict)
    env: list[str] = Field(default_factory=lambda: list(DEFAULT_ENV))
    connect_timeout: float = Field(default=5.0, gt=0, alias="connectTimeout")
    socket: str | None = None


class Host(TmuxRuntime):
    """The tmux runtime on one host: every tmux call is one command over SSH."""

    def __init__(
        self, name: str, options: HostOptions, socket: str, timeout: float, allowed: list[str]
    ) -> None:
        super().__init__({})
        self.host, self.config, self.socket = name, options, socket
        self.connect_timeout = timeout
        self.allowed = allowed  # patterns of the caller's variables the agent gets

    def ssh_argv(self, *, tty: bool = False) -> list[str]:
        """``ssh`` with this host's options and the shared master connection."""
        # short (a unix socket path is at most 108 bytes) and private
        control = private_dir(memory_dir() / "ssh")
        argv = [
            "ssh", "-o", "BatchMode=yes", "-o", "ControlMaster=auto",
            "-o", f"ControlPath={control}/%C", "-o", "ControlPersist=600",
            "-o", f"ConnectTimeout={self.connect_timeout:g}",
            "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=2",
        ]  # fmt: skip
        if tty:
            argv.append("-t")
        if self.config.port:
            argv += ["-p", str(self.config.port)]
        if self.config.identity:
            identity = str(Path(self.config.identity).expanduser())
            argv += ["-i", identity, "-o", "IdentitiesOnly=yes"]
        for key, value in self.config.options.items():
            argv += ["-o", f"{key}={value}"]
        return [*argv, self.config.target, "--"]

    def remote(self, command: str, *, input: str | None = None, grace: float = 0.0) -> proc.Result:
        """Run ``command`` (a shell line for the host) and return its result; a host that
        cannot be reached is a CommandError that says so."""
        r = proc.run([*self.ssh_argv(), command], input=input, check=False,
                     timeout=self.connect_timeout + 15 + grace)  # fmt: skip
        if r.returncode == UNREACHABLE:
            raise CommandError(
                f"host {self.host} ({self.config.target}) is unreachable: "
                f"{(r.stderr.strip().splitlines() or ['no answer'])[-1]}",
                hint="nothing was changed; try again once it answers (`ao doctor` checks it)",
            )
        return r

    def tmux_argv(self) -> list[str]:
        """``tmux`` on this host's server for ao; ``-u``: tmux would otherwise print the
        tab between the fields of ``-F`` as ``_`` to a client without a UTF-8 locale."""
        return ["tmux", "-u", "-L", self.socket or "ao-ssh"]

    def _tmux(self, *args: str, input: str | None = None, check: bool = True) -> proc.Result:
        r = self.remote(shlex.join([*self.tmux_argv(), *args]), input=input)
        if check and r.returncode != 0:
            raise CommandError(f"tmux on {self.host} failed: {r.stderr.strip()}")
        return r

    def create(self, spec: RuntimeSpec) -> RuntimeHandle:
        """Start ``spec.argv`` in a new tmux session on this host (one round trip)."""
        exports = "".join(
            f"export {name}={shlex.quote(spec.env[name])}\n"
            for name in passed_names(spec.env, spec.own_env, self.allowed)
        )
        tmux = shlex.join([*self.tmux_argv()])
        cwd = shlex.quote(str(spec.cwd))
        launch = shlex.join(["sh", "-c", '. "$0" && rm -f "$0" && exec "$@"'])
        session = shlex.join([
            "new-session", "-d", "-s", spec.name, "-x", str(spec.width), "-y", str(spec.height),
            "-c", str(spec.cwd), "-P", "-F", "#{pane_id}",
        ])  # fmt: skip
        options = shlex.join([
            ";", "set-option", "-w", "-t", f"={spec.name}:", "remain-on-exit", "on",
            ";", "set-option", "-t", f"={spec.name}:", "@ao_owner", spec.owner,
        ])  # fmt: skip
        script = (
            f"test -d {cwd} || {{ echo 'no such directory' >&2; exit 3; }}; umask 077; "
            'd="${XDG_RUNTIME_DIR:-/tmp}/ao-env-$(id -u)"; mkdir -p "$d" && chmod 700 "$d" && '
            'f=$(mktemp "$d/env-XXXXXX") && cat > "$f" && '
            f'{tmux} {session} {launch} "$f" {shlex.join(spec.argv)} {options} '
            '|| { rm -f "$f"; exit 4; }'
        )
        r = self.remote(script, input=exports)
        if r.returncode == 3:
            raise SpawnError(
                f"{spec.cwd} does not exist on host {self.host}",
                hint="the ssh runtime runs the agent in the same worktree path on the host: "
                "share ao's home (and the repository) with it (NFS, sshfs), or give the host "
                f"a workdir (plugins.ssh.hosts.{self.host}.workdir) for copies of its own",
            )
        if r.returncode != 0:
            raise SpawnError(f"host {self.host} could not start {spec.name}: {r.stderr.strip()}")
        pane = r.stdout.strip().splitlines()[0]
        return RuntimeHandle(runtime="ssh", name=spec.name, target=f"{self.host}/{pane}")

    def destroy(self, handle: RuntimeHandle, *, grace: float = 3.0) -> None:
        """TERM the pane's process group, KILL it after ``grace``, end the session."""
        pane = handle.target.partition("/")[2] or f"={handle.name}:"
        target = shlex.quote(pane)
        tmux = shlex.join([*self.tmux_argv()])
        script = (
            f"p=$({tmux} display-message -p -t {target} '#{{pane_pid}}' 2>/dev/null); "
            f'if [ -n "$p" ]; then kill -HUP -"$p" 2>/dev/null; kill -TERM -"$p" 2>/dev/null; '
            f'i=0; while kill -0 "$p" 2>/dev/null && [ $i -lt {max(int(grace * 10), 1)} ]; '
            f'do sleep 0.1; i=$((i+1)); done; kill -KILL -"$p" 2>/dev/null; fi; '
            f"{tmux} kill-session -t {shlex.quote('=' + handle.name)} 2>/dev/null; true"
        )
        self.remote(script, grace=grace)

    def handle(self, name: str) -> RuntimeHandle:
        """The session ``name`` on this host."""
        return RuntimeHandle(runtime="ssh", name=name, target=f"{self.host}/={name}:")

    def attach_argv(self, handle: RuntimeHandle, *, inside: bool | None = None) -> list[str]:
        """``ssh -t HOST tmux attach`` to the exact session."""
        command = [*self.tmux_argv(), "attach-session", "-t", f"={handle.name}"]
        return [*self.ssh_argv(tty=True), shlex.join(command)]

    def probe_with_screens(self, lines: int) -> tuple[dict[str, PaneState], dict[str, str]]:
        """Every pane's state and the last ``lines`` of each running one, in one round
        trip (a listing reads the screens right after the states)."""
        tmux = shlex.join(self.tmux_argv())
        mark = f"@@ao-{uuid.uuid4().hex[:8]}@@"
        script = (
            f"{tmux} list-panes -a -F {shlex.quote(PANE_FORMAT)} 2>/dev/null || exit 0; "
            f"echo {mark}; "
            f"{tmux} list-panes -a -F '#{{pane_dead}} #{{session_name}}' | "
            'while read -r dead name; do [ "$dead" = 1 ] && continue; '
            f'{tmux} capture-pane -p -J -t "=$name:" -S -{max(lines, 1)}; '
            f'echo "{mark}$name"; done'
        )
        panes, _, rest = self.remote(script).stdout.partition(f"{mark}\n")
        screens: dict[str, str] = {}
        chunk: list[str] = []
        for line in rest.split("\n"):
            if line.startswith(mark):
                screens[line[len(mark) :]] = "\n".join(chunk).rstrip("\n")
                chunk = []
            else:
                chunk.append(line)
        return parse_panes(panes), screens

    def check(self) -> tuple[bool, str]:
        """(usable, what was found): tmux, and for copies git and a writable workdir."""
        script = "tmux -V"
        if self.config.workdir is not None:
            w = shlex.quote(self.config.workdir)
            script += f"; git --version; mkdir -p {w} && test -w {w} && echo 'workdir ok'"
        r = self.remote(script)
        found = r.stdout.strip().replace("\n", ", ") or r.stderr.strip() or "no tmux"
        ok = re.search(r"tmux \d", r.stdout) is not None
        if self.config.workdir is not None:
            ok = ok and "git version" in r.stdout and "workdir ok" in r.stdout
            if "workdir ok" not in r.stdout:
                found += f"; workdir {self.config.workdir} is not writable"
        return ok, found

    def capacity(self) -> tuple[int, int]:
        """(sessions on this host's ao tmux server, available memory in kB): one call."""
        tmux = shlex.join([*self.tmux_argv(), "list-sessions", "-F", "x"])
        r = self.remote(f"{tmux} 2>/dev/null | wc -l; grep {_MEMORY} /proc/meminfo; true")
        lines = r.stdout.split("\n")
        count = int(lines[0].strip()) if lines and lines[0].strip().isdigit() else 0
        memory = next((int(x.split()[1]) for x in lines if x.startswith(_MEMORY)), 0)
        return count, memory


class SshRuntime(Isolating, Placing, Copying):
    """Runs sessions in tmux on the hosts of ``plugins.ssh.hosts``."""

    api_version = TmuxRuntime.api_version
    name = "ssh"

    def __init__(self, options: Mapping[str, t.Any] | None = None) -> None:
        self.options = parse_options(SshOptions, options, "ssh")
        base = os.environ.get(SOCKET_ENV) or self.options.socket or "ao"
        self._screens: dict[str, str] = {}  # what the last probe brought
        self._screens_at = float("-inf")
        self.hosts: dict[str, Host] = {}
        for host, config in self.options.hosts.items():
            self.hosts[host] = Host(host, config, f"{base}-ssh-{host}",
                                    self.options.connect_timeout, self.options.env)  # fmt: skip

    def local_runtime(self) -> str:
        """ao's own processes (the watcher) run in this machine's tmux."""
        return "tmux"

    def places(self) -> list[str]:
        """The configured hosts, for ``ao new --host``."""
        return sorted(self.hosts)

    # --------------------------------------------------------------------- placement

    def host_of(self, handle: RuntimeHandle) -> Host:
        """The host a handle names."""
        host = handle.target.partition("/")[0]
        if host not in self.hosts:
            raise NotFoundError(
                f"session {handle.name} ran on host {host!r}, which is no longer in "
                "plugins.ssh.hosts",
                hint="add the host back to the config to reach it",
            )
        return self.hosts[host]

    def place(self, where: str) -> Host:
        """The host asked for, else the one with the most free slots, then memory."""
        if not self.hosts:
            raise ConfigError("the ssh runtime has no hosts",
                              hint="add them under plugins.ssh.hosts")  # fmt: skip
        if where:
            if where not in self.hosts:
                raise ConfigError(
                    f"no host {where!r} in plugins.ssh.hosts",
                    hint=f"hosts: {', '.join(sorted(self.hosts))}",
                )
            return self.hosts[where]
        ranked, why = [], []
        for host, found in sorted(_each(self.hosts, Host.capacity).items()):
            if isinstance(found, Exception):
                why.append(found.message if isinstance(found, AoError) else f"{host}: {found}")
                continue
            count, memory = found
            free = self.hosts[host].config.max_sessions - count
            if free > 0:
                ranked.append((free, memory, host))
            else:
                why.append(f"{host}: full ({count} of maxSessions {count + free})")
        if not ranked:
            raise SpawnError(
                "no host can take a session: " + "; ".join(why),
                hint="`ao doctor` checks the hosts; raise maxSessions or add a host",
            )
        return self.hosts[max(ranked)[2]]

    # --------------------------------------------------------------------- lifecycle

    def create(self, spec: RuntimeSpec) -> RuntimeHandle:
        """Start the session on the host ``spec.where`` names, or the most free one."""
        if not spec.argv:
            raise CommandError("no command to run in the session")
        host = self.place(spec.where)
        if host.config.workdir is None:  # the host shares this filesystem
            handle = host.create(spec)
            self._remember(host.host, add=spec.name)
            return handle
        with copies.session_lock(spec.name):
            remote_spec, copy = copies.send(host, spec)
            copies.save(spec.name, copy)  # before it runs: a kill now leaves it findable
            try:
                handle = host.create(remote_spec)
            except BaseException:
                with contextlib.suppress(Exception):
                    copies.remove(host, copy.remote)
                    copies.save(spec.name, None)
                raise
        self._remember(host.host, add=spec.name)
        return handle

    def destroy(self, handle: RuntimeHandle, *, grace: float = 3.0) -> None:
        """End the session on its host (an unreachable host is an error: nothing is lost);
        a session's own copy is removed once its work was brought back."""
        host = self.host_of(handle)
        host.destroy(handle, grace=grace)
        with copies.session_lock(handle.name):
            copy = copies.load().get(handle.name)
            if copy is not None:
                copy = copies.sync(host, copy, forward=False)
                if Path(copy.local).is_dir():  # else the host's work stays under copy.refs
                    copies.forget_refs(copy)
                copies.remove(host, copy.remote)
                copies.save(handle.name, None)
        self._remember(host.host, remove=handle.name)

    def sync_copy(self, handle: RuntimeHandle) -> bool:
        """Sync a session's copy (on a host with ``workdir``) and its worktree here."""
        with copies.session_lock(handle.name):
            copy = copies.load().get(handle.name)
            if copy is None:
                return False
            copies.save(handle.name, copies.sync(self.host_of(handle), copy))
            return True

    def probe(self) -> dict[str, PaneState]:
        """Every host's panes, one call per host, all hosts at once; the sessions last seen
        on a host that does not answer read ``unreachable``. The same call brings the live
        panes' screens, which ``capture_many`` then serves (a listing reads them next)."""
        states: dict[str, PaneState] = {}
        self._screens = {}
        read = _each(self.hosts, lambda h: h.probe_with_screens(PROBE_LINES))
        for host, found in read.items():
            if isinstance(found, CommandError):
                why = f"host {host} does not answer"
                for name in self._seen(host):
                    states[name] = PaneState(alive=True, running=True, unreachable=why)
            elif isinstance(found, tuple):
                panes, screens = found
                states.update(panes)
                self._screens.update(screens)
                self._remember(host, names=list(panes))
        self._screens_at = time.monotonic()
        return states

    def list_names(self, owner: str | None = None) -> list[str]:
        """Sessions on every reachable host (one call each)."""
        names: list[str] = []
        for found in _each(self.hosts, lambda h: h.list_names(owner)).values():
            if isinstance(found, list):
                names += found
        return names

    # --------------------------------------------------------------------- input/output

    def paste(self, handle: RuntimeHandle, text: str) -> None:
        """Paste on the session's host (the text travels on stdin)."""
        self.host_of(handle).paste(self._local(handle), text)

    def send_keys(self, handle: RuntimeHandle, *keys: str) -> None:
        """Press keys on the session's host."""
        self.host_of(handle).send_keys(self._local(handle), *keys)

    def capture(self, handle: RuntimeHandle, lines: int = 200) -> str:
        """The session's screen, from its host."""
        return self.host_of(handle).capture(self._local(handle), lines)

    def capture_many(self, handles: list[RuntimeHandle], lines: int = 60) -> dict[str, str]:
        """Screens of many sessions: those the last ``probe`` brought (within a moment),
        the rest in one call per host, all hosts at once."""
        screens: dict[str, str] = {}
        fresh = time.monotonic() - self._screens_at < SCREENS_FRESH and lines <= PROBE_LINES
        if fresh:
            for handle in handles:
                if handle.name in self._screens:
                    text = self._screens[handle.name]
                    screens[handle.name] = "\n".join(text.split("\n")[-lines:])
        groups: dict[str, list[RuntimeHandle]] = {}
        for handle in (h for h in handles if h.name not in screens):
            host = handle.target.partition("/")[0]
            if host in self.hosts:
                groups.setdefault(host, []).append(self._local(handle))
        chosen = {h: self.hosts[h] for h in groups}
        for found in _each(chosen, lambda h: h.capture_many(groups[h.host], lines)).values():
            if isinstance(found, dict):
                screens.update(found)
        return screens

    def attach_argv(self, handle: RuntimeHandle, *, inside: bool | None = None) -> list[str]:
        """``ssh -t HOST tmux attach`` to the session."""
        return self.host_of(handle).attach_argv(handle, inside=inside)

    def handle(self, name: str) -> RuntimeHandle:
        """The handle of session ``name``, on the host it was last seen on (else asked)."""
        for host in self.hosts:
            if name in self._seen(host):
                return self.hosts[host].handle(name)
        for host, found in _each(self.hosts, lambda h: h.list_names()).items():
            if isinstance(found, list) and name in found:
                return self.hosts[host].handle(name)
        first = next(iter(self.hosts.values()), None)
        if first is None:
            raise ConfigError("the ssh runtime has no hosts", hint="add plugins.ssh.hosts")
        return first.handle(name)

    @staticmethod
    def _local(handle: RuntimeHandle) -> RuntimeHandle:
        """The handle as its host's tmux knows it (the pane id, without the host)."""
        return dataclasses.replace(handle, target=handle.target.partition("/")[2])

    # --------------------------------------------------------------------- host

    def host_checks(self) -> list[HostCheck]:
        """ssh on PATH; each host answering, with its tmux version."""
        if not shutil.which("ssh"):
            return [HostCheck("ssh", False, "ssh not found on PATH; install openssh-client")]
        checks = [HostCheck("ssh", True, "ssh client")]
        for host, found in _each(self.hosts, Host.check).items():
            if isinstance(found, Exception):
                checks.append(HostCheck(f"host {host}", False, str(found)))
            else:
                checks.append(HostCheck(f"host {host}", found[0], found[1]))
        return checks

    def sandbox_env(self, tag: str) -> dict[str, str]:
        """Private tmux servers: ``tag`` here, ``tag-ssh-HOST`` on each host."""
        return {SOCKET_ENV: tag}

    def end_sandbox(self, tag: str) -> None:
        """End the sandbox's tmux server on every host."""
        for host in self.hosts.values():
            with contextlib.suppress(Exception):
                host.remote(shlex.join(["tmux", "-L", f"{tag}-ssh-{host.host}", "kill-server"]))

    # --------------------------------------------------------------------- memory

    def _seen_file(self) -> Path:
        return ao_home() / "run" / "ssh-sessions.json"

    def _load(self) -> dict[str, list[str]]:
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(self._seen_file().read_text(encoding="utf-8"))
            if isinstance(data, dict):
                return {str(k): [str(n) for n in v] for k, v in data.items() if isinstance(v, list)}
        return {}

    def _seen(self, host: str) -> list[str]:
        return self._load().get(f"{self.hosts[host].socket}@{self.hosts[host].config.target}", [])

    def _remember(
        self, host: str, *, names: list[str] | None = None, add: str = "", remove: str = ""
    ) -> None:
        """Keep which sessions each host held when last seen (for ``unreachable``): a
        read-modify-write under the file's lock, written atomically."""
        key = f"{self.hosts[host].socket}@{self.hosts[host].config.target}"
        current = self._load().get(key)
        wanted = self._changed(current, names, add, remove)
        if wanted == current:
            return  # the common case, a probe that saw nothing new: no lock, no write
        path = self._seen_file()
        private_dir(path.parent)
        with copies.locked(path.with_name(path.name + ".lock")):
            data = self._load()
            data[key] = self._changed(data.get(key), names, add, remove)
            write_atomic(path, json.dumps(data, sort_keys=True))

    @staticmethod
    def _changed(current: list[str] | None, names: list[str] | None, add: str, remove: str
                 ) -> list[str]:  # fmt: skip
        result = list(current or []) if names is None else sorted(names)
        if add and add not in result:
            result.append(add)
        if remove in result:
            result.remove(remove)
        return result


_R = t.TypeVar("_R")


def _each(hosts: Mapping[str, Host], call: Callable[[Host], _R]) -> dict[str, _R | Exception]:
    """``call`` on every host at once; each host's result, or the error it raised."""
    if not hosts:
        return {}
    results: dict[str, _R | Exception] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(len(hosts), 16)) as pool:
        futures = {pool.submit(call, host): name for name, host in hosts.items()}
        for future in concurrent.futures.as_completed(futures):
            try:
                results[futures[future]] = future.result()
            except Exception as exc:  # one host's failure is that host's result
                results[futures[future]] = exc
    return results
