"""The ``docker`` runtime: each session's agent in its own container.

A session is a tmux session (on ao's own ``<socket>-docker`` tmux server) whose pane runs
``docker run --rm -it ... IMAGE ARGV``: the container's TTY is the pane. So paste, keys,
capture, attach, liveness and exit status are the tmux runtime's, batched the same way
(one ``list-panes -a`` for every session, however many containers), and the image needs
nothing of ao's, not even tmux. docs/architecture.md, "The docker runtime", says why this
shape rather than a tmux server inside each container.

The container sees only what the session needs: the worktree (and the repository's git
directory, for a worktree checkout) and the agent's state directory, bind-mounted at the
same paths; ``mounts`` the user adds; and, from the environment, the variables the session
sets itself plus the names ``env`` allows (model credentials by default). Values reach
the ``docker`` client through the tmux runtime's private environment file and are passed
by name (``-e NAME``), never on a command line. Containers carry the labels
``ao.session``, ``ao.owner`` and ``ao.tmux``, which ``list_names`` (so ``ao gc``) and
``end_sandbox`` use.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import hashlib
import json
import os
import re
import shutil
import typing as t
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from ao.sdk import proc
from ao.sdk.contracts import HostCheck, Isolating, PaneState, RuntimeHandle, RuntimeSpec
from ao.sdk.errors import CommandError, ConfigError, ConflictError, SpawnError
from ao.sdk.home import ao_home
from ao.sdk.options import parse_options
from ao_plugins.runtime_tmux import SOCKET_ENV, TmuxRuntime

TIMEOUT = 30.0  # docker calls: a busy daemon answers slower than tmux
# Variables a container gets from the caller's environment without being named: model
# credentials and endpoints of the agents ao drives, locale and proxies.
DEFAULT_ENV = (
    "ANTHROPIC_*", "CLAUDE_*", "OPENAI_*", "CODEX_*", "GEMINI_*", "GOOGLE_API_KEY",
    "GOOGLE_GENAI_*", "GOOGLE_CLOUD_*", "AZURE_OPENAI_*", "OPENROUTER_*", "MOONSHOT_*",
    "KIMI_*", "DEEPSEEK_*", "MISTRAL_*", "GROQ_*", "XAI_*", "CURSOR_*", "AIDER_*",
    "OPENCODE_*", "LANG", "LC_*", "TZ", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
    "http_proxy", "https_proxy", "no_proxy", "GIT_AUTHOR_*", "GIT_COMMITTER_*",
)  # fmt: skip
NEVER_PASSED = frozenset({"PATH", "PWD", "OLDPWD", "SHLVL", "_", "TERM", "TMUX", "TMUX_PANE"})
DETACH_KEYS = "ctrl-],ctrl-]"  # docker's default (ctrl-p,ctrl-q) would eat an agent's ^P
_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_.-]")


class DockerOptions(BaseModel):
    """``plugins.docker`` in the config."""

    model_config = ConfigDict(extra="forbid")

    image: str | None = Field(default=None, description="The image every session runs in.")
    network: t.Literal["none", "bridge", "host"] = "bridge"
    mounts: list[str] = Field(default_factory=list, description="More `SRC:DST[:ro]` mounts.")
    memory: str | None = Field(default=None, description="Memory limit, e.g. '4g'.")
    cpus: float | None = Field(default=None, gt=0, description="CPU limit, e.g. 2.")
    env: list[str] = Field(default_factory=lambda: list(DEFAULT_ENV))
    user: str | None = Field(default=None, description="uid:gid; default: the caller's.")
    init: bool = Field(default=True, description="Run docker's init as PID 1 (reaps zombies).")
    docker: str = Field(default="docker", description="The docker client to run.")
    socket: str | None = Field(default=None, description="The tmux socket to base on.")


class DockerRuntime(TmuxRuntime, Isolating):
    """Runs each session in a container whose TTY is a pane of ao's docker tmux server."""

    name = "docker"

    def __init__(self, options: Mapping[str, t.Any] | None = None) -> None:
        self.options = parse_options(DockerOptions, options, "docker")
        super().__init__({})
        base = os.environ.get(SOCKET_ENV) or self.options.socket or "ao"
        self.socket = f"{base}-docker"
        self.owner_tag = hashlib.sha1(str(ao_home().resolve()).encode()).hexdigest()[:8]

    # --------------------------------------------------------------------- plumbing

    def _docker(self, *args: str, check: bool = True, timeout: float = TIMEOUT) -> proc.Result:
        return proc.run([self.options.docker, *args], timeout=timeout, check=check)

    def container(self, name: str) -> str:
        """The container of session ``name``: unique per ``$AO_HOME``, so two state roots
        sharing one daemon never collide."""
        return f"ao-{_NAME_CHARS.sub('-', name)}-{self.owner_tag}"

    def local_runtime(self) -> str:
        """ao's own processes (the watcher) run in the user's tmux, not in a container."""
        return "tmux"

    # --------------------------------------------------------------------- lifecycle

    def create(self, spec: RuntimeSpec) -> RuntimeHandle:
        """Check the image, clear a stale container of this session, then start the
        container in a new pane."""
        if not spec.argv:
            raise CommandError("no command to run in the session")
        image = self.options.image
        if not image:
            raise ConfigError(
                "the docker runtime needs an image",
                hint="set `plugins.docker.image` in the config (see README, 'Where sessions run')",
            )
        self._clear_stale(spec.name, image)
        argv = self.run_argv(spec)
        return super().create(
            RuntimeSpec(
                name=spec.name, argv=argv, cwd=spec.cwd, env=spec.env, width=spec.width,
                height=spec.height, owner=spec.owner,
            )
        )  # fmt: skip

    def _clear_stale(self, name: str, image: str) -> None:
        """One ``docker inspect`` for the image and this session's container: a missing
        image is an error; a container left by a killed spawn or a lost tmux server (no
        pane of that name) is removed, its work being in the mounted worktree."""
        container = self.container(name)
        r = self._docker("inspect", image, container, check=False)
        found = _json_list(r.stdout)
        if not any("RepoTags" in obj for obj in found):
            if f"No such object: {image}" in r.stderr:
                raise SpawnError(
                    f"docker image {image!r} not found",
                    hint=f"build it or `docker pull {image}`, or change plugins.docker.image",
                )
            detail = (r.stderr.strip().splitlines() or ["no answer"])[0]
            raise SpawnError(
                f"docker cannot be reached: {detail}",
                hint="start the Docker daemon, or check DOCKER_HOST and your access to its socket",
            )
        if any("State" in obj for obj in found):
            if name in TmuxRuntime.list_names(self):
                raise ConflictError(f"docker session {name!r} already runs", hint="run `ao gc`")
            self._docker("rm", "-f", container, check=False)

    def run_argv(self, spec: RuntimeSpec) -> list[str]:
        """The ``docker run`` command the pane runs (values of variables not included)."""
        opts = self.options
        user = opts.user or f"{os.getuid()}:{os.getgid()}"
        argv = [
            opts.docker, "run", "--rm", "--interactive", "--tty",
            "--name", self.container(spec.name), "--detach-keys", DETACH_KEYS,
            "--label", f"ao.session={spec.name}", "--label", f"ao.owner={spec.owner}",
            "--label", f"ao.tmux={self.socket}",
            "--network", opts.network, "--user", user, "--workdir", str(spec.cwd),
        ]  # fmt: skip
        if opts.init:
            argv.append("--init")
        if opts.memory:
            argv += ["--memory", opts.memory]
        if opts.cpus:
            argv += ["--cpus", f"{opts.cpus:g}"]
        for path in session_paths(Path(spec.cwd), spec.paths):
            argv += ["--volume", f"{path}:{path}"]
        for mount in opts.mounts:
            argv += ["--volume", mount]
        for name in passed_names(spec.env, spec.own_env, opts.env):
            argv += ["--env", name]
        return [*argv, opts.image or "", *spec.argv]

    def destroy(self, handle: RuntimeHandle, *, grace: float = 3.0) -> None:
        """Stop the container (TERM, KILL after ``grace``), remove it, end the pane."""
        container = self.container(handle.name)
        seconds = str(max(int(grace + 0.999), 0))
        self._docker("stop", "--time", seconds, container, check=False,
                     timeout=TIMEOUT + grace)  # fmt: skip
        self._docker("rm", "--force", container, check=False)
        super().destroy(handle, grace=grace)

    def probe(self) -> dict[str, PaneState]:
        """The panes' liveness (one tmux call) with each running container's foreground
        program as ``current_command`` (one ``docker inspect`` for all containers, then
        ``/proc``): the pane's own foreground is only ever the docker client."""
        states = super().probe()
        running = [name for name, state in states.items() if state.running]
        if not running:
            return states
        r = self._docker("inspect", "--type", "container", "--format",
                         '{{.State.Pid}} {{index .Config.Labels "ao.session"}}',
                         *map(self.container, running), check=False)  # fmt: skip
        for line in r.stdout.splitlines():
            pid, _, name = line.partition(" ")
            if name in states and pid.isdigit() and (command := foreground_command(int(pid))):
                states[name] = dataclasses.replace(states[name], current_command=command)
        return states

    def list_names(self, owner: str | None = None) -> list[str]:
        """Sessions on the docker tmux server and containers labelled by ao (with
        ``owner``: only that state root's), so a container whose pane is gone is found."""
        names = super().list_names(owner)
        label = f"ao.owner={owner}" if owner else "ao.session"
        r = self._docker("ps", "--all", "--filter", f"label={label}",
                         "--format", '{{.Label "ao.session"}}', check=False)  # fmt: skip
        for name in r.stdout.split() if r.returncode == 0 else []:
            if name not in names:
                names.append(name)
        return names

    def attach_argv(self, handle: RuntimeHandle, *, inside: bool | None = None) -> list[str]:
        """Attach to the session's pane on the docker tmux server; from inside another
        tmux server, as a nested client."""
        current = os.environ.get("TMUX", "").split(",")[0]
        ours = str(self._socket_path())
        if inside is None:
            inside = bool(current)
        if inside and current == ours:
            return [*self.base_argv(), "switch-client", "-t", f"={handle.name}"]
        prefix = ["env", "-u", "TMUX"] if inside else []
        return [*prefix, *self.base_argv(), "attach-session", "-t", f"={handle.name}"]

    def _socket_path(self) -> Path:
        socket = self.socket or ""
        if "/" in socket:
            return Path(socket)
        return Path(os.environ.get("TMUX_TMPDIR") or "/tmp", f"tmux-{os.getuid()}", socket)

    # --------------------------------------------------------------------- host

    def host_checks(self) -> list[HostCheck]:
        """tmux, a reachable Docker daemon, and the configured image."""
        checks = super().host_checks()
        client = self.options.docker
        if not shutil.which(client):
            return [*checks, HostCheck("docker", False, f"{client} not found on PATH; "
                                       "install Docker (Debian: docker.io)")]  # fmt: skip
        r = self._docker("version", "--format", "{{.Server.Version}}", check=False)
        if r.returncode != 0:
            detail = (r.stderr.strip().splitlines() or ["no answer"])[-1]
            return [*checks, HostCheck("docker", False, f"daemon not reachable: {detail}")]
        checks.append(HostCheck("docker", True, f"Docker {r.stdout.strip()}"))
        image = self.options.image
        if not image:
            checks.append(HostCheck("docker image", False, "set plugins.docker.image"))
        else:
            found = self._docker("image", "inspect", image, check=False).returncode == 0
            detail = image if found else f"{image} not found: build it or docker pull it"
            checks.append(HostCheck("docker image", found, detail))
        return checks

    def sandbox_env(self, tag: str) -> dict[str, str]:
        """A private tmux server ``tag`` (this runtime's panes on ``tag-docker``)."""
        return {SOCKET_ENV: tag}

    def end_sandbox(self, tag: str) -> None:
        """Remove the sandbox's containers, then end both of its tmux servers."""
        with contextlib.suppress(Exception):
            r = self._docker("ps", "--all", "--quiet", "--filter",
                             f"label=ao.tmux={tag}-docker", check=False)  # fmt: skip
            if ids := r.stdout.split():
                self._docker("rm", "--force", *ids, check=False)
        super().end_sandbox(f"{tag}-docker")
        super().end_sandbox(tag)


def session_paths(cwd: Path, extra: tuple[Path, ...]) -> list[Path]:
    """Host paths a session's container mounts at the same place: its checkout (the
    whole worktree when ``cwd`` is a folder in it), the repository's git directory when
    the checkout's ``.git`` is a file pointing elsewhere, and ``extra``."""
    root, git_dir = cwd, None
    for folder in [cwd, *cwd.parents]:
        marker = folder / ".git"
        if marker.is_dir():
            root = folder
            break
        if marker.is_file():
            root = folder
            git_dir = _common_git_dir(marker)
            break
    paths = [root]
    if git_dir is not None and not git_dir.is_relative_to(root):
        paths.append(git_dir)
    paths += [p for p in extra if p.exists() and not any(p.is_relative_to(q) for q in paths)]
    return paths


def _common_git_dir(dotgit: Path) -> Path | None:
    """The repository's git directory, from a worktree's ``.git`` file (``gitdir: X``,
    and ``X/commondir``)."""
    text = dotgit.read_text(encoding="utf-8", errors="replace").strip()
    if not text.startswith("gitdir:"):
        return None
    gitdir = (dotgit.parent / text.removeprefix("gitdir:").strip()).resolve()
    common = gitdir / "commondir"
    if common.is_file():
        return (gitdir / common.read_text(encoding="utf-8").strip()).resolve()
    return gitdir


def passed_names(env: Mapping[str, str], own: frozenset[str], allowed: list[str]) -> list[str]:
    """Names of the variables a container gets: those the session sets itself and those
    of the caller's environment matching an ``allowed`` pattern, but never a host-only
    one (``PATH``...) unless ``allowed`` names it exactly."""

    def passed(name: str) -> bool:
        if name in allowed:
            return True
        matches = name in own or any(fnmatch.fnmatchcase(name, p) for p in allowed)
        return matches and name not in NEVER_PASSED

    return sorted(filter(passed, env))


def foreground_command(init_pid: int) -> str:
    """The name of the foreground program on the TTY of a container whose first process
    is ``init_pid`` (seen from this machine's ``/proc``), or ``""``."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        stat = Path(f"/proc/{init_pid}/stat").read_text()
        tpgid = int(stat[stat.rindex(")") + 2 :].split()[5])  # state ppid pgrp sid tty tpgid
        if tpgid > 0:
            return Path(f"/proc/{tpgid}/comm").read_text().strip()
    return ""


def _json_list(text: str) -> list[dict[str, t.Any]]:
    with contextlib.suppress(ValueError):
        data = json.loads(text)
        if isinstance(data, list):
            return [obj for obj in data if isinstance(obj, dict)]
    return []
