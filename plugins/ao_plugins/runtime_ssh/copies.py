"""A session's own copy of its worktree on a host that does not share ao's filesystem.

A host with ``workdir`` gets a repository of its own per session, ``<workdir>/<session>``,
and the agent works there. The work travels as git objects over the host's SSH
connection (the same multiplexed one), both ways:

- **out** (``send``, as the session starts): the branch and a commit of the worktree as
  it is here (its uncommitted and untracked files; not the ignored ones) are pushed into
  a fresh repository on the host, which checks them out. The agent's state directory
  goes along (a tar over the connection), and every path in the agent's command and
  variables is mapped to its place on the host.
- **back** (``sync``, each time the core is about to read the worktree: before
  verification, publishing, stopping): the host commits its working tree through a
  private index (the agent's own index is never touched), and its branch and that
  commit are fetched here into ``refs/ao/host/<session>/{head,work}`` before anything
  else changes. Then the branch moves forward to the host's and the worktree takes the
  host's files. A branch that moved both here and there is left alone and refused: both
  are kept.
- **forward** (``sync`` too): commits ao made here on the copy's branch (committing what
  the agent left, to publish it) go to the copy, whose branch moves to them with its
  files untouched, so the agent's next commit builds on them.

The copy on the host is removed only once its work was brought back (``remove``).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import fcntl
import io
import json
import os
import re
import shlex
import tarfile
import time
import typing as t
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath

from ao.sdk import proc
from ao.sdk.contracts import RuntimeSpec
from ao.sdk.errors import CommandError, ConflictError, SpawnError
from ao.sdk.home import ao_home, private_dir
from ao.sdk.httpcache import write_atomic

if t.TYPE_CHECKING:
    from ao_plugins.runtime_ssh import Host

GIT_TIMEOUT = 300.0  # a first push carries the branch's whole history
_MAPPED_SIZE = 1 << 20  # state files up to this size have their local paths mapped
_IDENTITY = ["-c", "user.name=ao", "-c", "user.email=ao@localhost"]  # for snapshot commits only


def _snapshot(ref: str) -> str:
    """A shell line that commits the working tree through a private index (the agent's
    own is never touched), keeps it as ``ref`` and prints "<commit> <tree> <HEAD>": the
    same on both sides."""
    return (
        'd=$(mktemp -d) && trap \'rm -rf "$d"\' EXIT && export GIT_INDEX_FILE="$d/index" && '
        "git read-tree HEAD && git add -A . && t=$(git write-tree) && "
        f'c=$(git {shlex.join(_IDENTITY)} commit-tree "$t" -p HEAD -m "ao: working tree") && '
        f'git update-ref {ref} "$c" && echo "$c $t $(git rev-parse HEAD)"'
    )


@dataclasses.dataclass
class Copy:
    """One session's copy: where it is on its host and whose worktree it copies."""

    host: str
    name: str
    remote: str  # the repository on the host
    local: str  # the session's worktree here
    repo: str  # the git directory that holds the branch here (the common dir)
    brought: str = ""  # "<tree> <HEAD>" of the working tree last sent or brought back

    @property
    def refs(self) -> str:
        """Where a bring-back keeps what it fetched, before it changes anything."""
        return f"refs/ao/host/{self.name}"


# ----------------------------------------------------------------------------- out


def send(host: Host, spec: RuntimeSpec) -> tuple[RuntimeSpec, Copy]:
    """Make the host's copy of ``spec.cwd`` and return the spec to run there (every
    local path it names mapped to the copy) with the record of the copy."""
    assert host.config.workdir is not None
    local = spec.cwd.resolve()
    branch = _git(local, "symbolic-ref", "-q", "--short", "HEAD", check=False)
    if not branch:
        raise SpawnError(f"{local} is not on a branch", hint="a copied session needs a branch")
    repo = _git(local, "rev-parse", "--path-format=absolute", "--git-common-dir")
    remote = str(PurePosixPath(host.config.workdir) / spec.name)
    head = start = _git(local, "rev-parse", "HEAD")
    if _git(local, "status", "--porcelain", "--untracked-files=normal"):
        ref = f"refs/ao/start/{spec.name}"  # the repository's refs are every worktree's
        line = proc.run(["sh", "-c", _snapshot(ref)], cwd=local, timeout=GIT_TIMEOUT).stdout
        start = line.split()[0]
        _git(local, "update-ref", "-d", ref)
    _prepare(host, local, remote)
    env = {**_ssh_env(host), "GIT_TERMINAL_PROMPT": "0"}
    proc.run(["git", "-C", str(local), "push", "-q", "-f", f"{_address(host)}:{remote}",
              f"HEAD:refs/heads/{branch}", f"{start}:refs/ao/start"],
             env=env, timeout=GIT_TIMEOUT)  # fmt: skip
    states = [p.resolve() for p in spec.paths if p.is_dir()]
    mapping = {str(local): remote, **{str(p): f"{remote}.state{p}" for p in states}}
    checkout = (
        f"cd {shlex.quote(remote)} && git checkout -q -f {shlex.quote(branch)} && "
        "git read-tree -u --reset refs/ao/start && git reset -q && "
        "git update-ref -d refs/ao/start && "
        f"mkdir -p {shlex.quote(remote + '.state')} && "
        f"base64 -d | tar -C {shlex.quote(remote + '.state')} -xf -"
    )
    r = host.remote(checkout, input=_tar(states, mapping), grace=GIT_TIMEOUT)
    if r.returncode != 0:
        remove(host, remote)
        raise SpawnError(f"host {host.host} could not check out {branch}: {r.stderr.strip()}")
    _git(local, "read-tree", start)  # the index here: what the copy started from
    mapped = dataclasses.replace(
        spec,
        cwd=Path(remote),
        argv=[_map(arg, mapping) for arg in spec.argv],
        env={key: _map(value, mapping) for key, value in spec.env.items()},
        paths=tuple(Path(mapping[str(p)]) for p in states),
    )
    tree = _git(local, "rev-parse", f"{start}^{{tree}}")
    copy = Copy(host.host, spec.name, remote, str(local), repo, brought=f"{tree} {head}")
    return mapped, copy


def _prepare(host: Host, local: Path, remote: str) -> None:
    """A fresh repository at ``remote``, with the identity and ``origin`` of the one
    here; an older copy by that name (a start cut short) is moved aside, never deleted."""
    r = shlex.quote(remote)
    # who commits here (config or environment) commits there
    ident = re.match(r"(.+) <(.*)> \d+", _git(local, "var", "GIT_COMMITTER_IDENT", check=False))
    settings = {"user.name": ident[1], "user.email": ident[2]} if ident else {}
    # a password in the URL stays here: the host pushes with credentials of its own
    origin = re.sub(r"^([a-z][a-z0-9+.-]*://[^/@:]*):[^/@]*@", r"\1@",
                    _git(local, "remote", "get-url", "origin", check=False))  # fmt: skip
    if origin:  # the agent pushes its branch there, as it would from here
        settings |= {"remote.origin.url": origin,
                     "remote.origin.fetch": "+refs/heads/*:refs/remotes/origin/*"}  # fmt: skip
    config = "".join(
        f" && git config {key} {shlex.quote(value)}" for key, value in settings.items() if value
    )
    script = (
        f"mkdir -p {shlex.quote(str(PurePosixPath(remote).parent))} && "
        f"{{ ! test -e {r} || mv {r} {r}.old-{int(time.time())}; }} && "
        f"{{ ! test -e {r}.state || mv {r}.state {r}.state.old-{int(time.time())}; }} && "
        f"git init -q {r} && cd {r}{config}"
    )
    result = host.remote(script)
    if result.returncode != 0:
        raise SpawnError(
            f"host {host.host} could not make {remote}: {result.stderr.strip()}",
            hint=f"check plugins.ssh.hosts.{host.host}.workdir and that git is installed there",
        )


def _tar(paths: list[Path], mapping: Mapping[str, str]) -> str:
    """The directories ``paths`` as a tar stream in base64 (each under its own absolute
    path): what the agent keeps outside the worktree. Local paths in its small text files
    (an adapter's config naming its own state directory) are mapped to the host's."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for root in paths:
            for path in sorted([root, *root.rglob("*")]):
                info = tar.gettarinfo(str(path), arcname=str(path).lstrip("/"))
                if info.isdir() or info.issym():
                    tar.addfile(info)
                elif info.isfile():
                    data = path.read_bytes()
                    if len(data) <= _MAPPED_SIZE:
                        with contextlib.suppress(UnicodeDecodeError):
                            data = _map(data.decode(), mapping).encode()
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    return base64.b64encode(buffer.getvalue()).decode()


def _map(value: str, mapping: Mapping[str, str]) -> str:
    """``value`` with each local path of ``mapping`` (as a whole path, or a prefix of
    one) replaced by its place on the host."""
    for local in sorted(mapping, key=len, reverse=True):
        value = re.sub(
            re.escape(local) + r"(?=/|$|[^\w.-])", mapping[local].replace("\\", r"\\"), value
        )
    return value


# ----------------------------------------------------------------------------- back


def sync(host: Host, copy: Copy, *, forward: bool = True) -> Copy:
    """Make the copy and the worktree here agree; return the record updated.

    Back: the copy's branch and working tree come into the worktree here. Forward: commits
    made here on top of the copy's branch (ao committing what the agent left, to publish
    it) go to the copy, whose branch moves to them with its files untouched, so the
    agent's next commit builds on them. ConflictError when both branches moved (both kept).
    """
    r = host.remote(f"cd {shlex.quote(copy.remote)} && {_snapshot('refs/ao/work')}",
                    grace=GIT_TIMEOUT)  # fmt: skip
    fields = r.stdout.split()
    if r.returncode != 0 or len(fields) != 3:
        raise CommandError(f"host {host.host} could not read {copy.remote}: {r.stderr.strip()}")
    work, tree, there = fields
    local = Path(copy.local)
    if f"{tree} {there}" != copy.brought:  # the agent changed something there
        _fetch(host, copy, there)
        if not local.is_dir():
            return copy  # the worktree is gone: what the host held stays under copy.refs
        here = _git(local, "rev-parse", "HEAD")
        if here != there and not _ancestor(local, there, here):
            if not _ancestor(local, here, there):
                raise ConflictError(
                    f"the branch of {copy.name} moved both here ({here[:12]}) and on host "
                    f"{host.host} ({there[:12]})",
                    hint=f"the host's is kept as {copy.refs}/head (its files as "
                    f"{copy.refs}/work): merge it into the branch, then try again",
                )
            _git(local, "reset", "-q", "--soft", there)
        _git(local, "read-tree", "-u", "--reset", work)
        copy = dataclasses.replace(copy, brought=f"{tree} {there}")
    if not forward or not local.is_dir():
        return copy
    here = _git(local, "rev-parse", "HEAD")
    if here != there and _ancestor(local, there, here):
        _forward(host, copy, here, there)
        copy = dataclasses.replace(copy, brought=f"{tree} {here}")
    return copy


def _fetch(host: Host, copy: Copy, head: str) -> None:
    """The host's working-tree commit into ``copy.refs``: before anything here changes."""
    env = {**_ssh_env(host), "GIT_TERMINAL_PROMPT": "0"}
    proc.run(["git", "--git-dir", copy.repo, "fetch", "-q", "--no-tags",
              f"{_address(host)}:{copy.remote}", f"+refs/ao/work:{copy.refs}/work"],
             env=env, timeout=GIT_TIMEOUT)  # fmt: skip
    # the work commit's parent is the host's HEAD: one ref fetched brings both
    proc.run(["git", "--git-dir", copy.repo, "update-ref", f"{copy.refs}/head", head],
             timeout=30)  # fmt: skip


def _forward(host: Host, copy: Copy, here: str, there: str) -> None:
    """Move the copy's branch from ``there`` to ``here`` (a descendant made here), its
    files untouched; only while the agent has not committed since (else the next sync
    reports both moves)."""
    env = {**_ssh_env(host), "GIT_TERMINAL_PROMPT": "0"}
    proc.run(["git", "-C", copy.local, "push", "-q", "-f", f"{_address(host)}:{copy.remote}",
              f"{here}:refs/ao/forward"], env=env, timeout=GIT_TIMEOUT)  # fmt: skip
    r = shlex.quote(copy.remote)
    host.remote(
        f'cd {r} && if [ "$(git rev-parse HEAD)" = {there} ]; then git reset -q {here}; fi; '
        "git update-ref -d refs/ao/forward",
        grace=GIT_TIMEOUT,
    )


def remove(host: Host, remote: str) -> None:
    """Delete the copy (and its state directory) on the host."""
    r = shlex.quote(remote)
    host.remote(f"rm -rf {r} {r}.state", grace=60)


def forget_refs(copy: Copy) -> None:
    """Drop the refs a bring-back kept, once the worktree holds what they point to."""
    for ref in ("head", "work"):
        proc.run(["git", "--git-dir", copy.repo, "update-ref", "-d", f"{copy.refs}/{ref}"],
                 check=False, timeout=30)  # fmt: skip


# ----------------------------------------------------------------------------- records


def _file() -> Path:
    return ao_home() / "run" / "ssh-copies.json"


def load() -> dict[str, Copy]:
    """Every session copy this ``AO_HOME`` keeps on a host, by session name."""
    with contextlib.suppress(OSError, ValueError, TypeError):
        data = json.loads(_file().read_text(encoding="utf-8"))
        return {name: Copy(**fields) for name, fields in data.items()}
    return {}


def save(name: str, copy: Copy | None) -> None:
    """Record (or with None forget) a session's copy: read-modify-write under the lock."""
    path = _file()
    private_dir(path.parent)
    with locked(path.with_name(path.name + ".lock")):
        data = {k: dataclasses.asdict(v) for k, v in load().items()}
        if copy is None:
            data.pop(name, None)
        else:
            data[name] = dataclasses.asdict(copy)
        write_atomic(path, json.dumps(data, sort_keys=True, indent=1))


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (made 0600) while the block runs."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def session_lock(name: str) -> t.ContextManager[None]:
    """One bring-back or removal of a session's copy at a time."""
    return locked(private_dir(ao_home() / "run") / f"ssh-copy-{name}.lock")


# ----------------------------------------------------------------------------- git


def _git(cwd: Path, *args: str, check: bool = True) -> str:
    r = proc.run(["git", *args], cwd=cwd, check=check, timeout=GIT_TIMEOUT)
    return r.stdout.strip() if r.returncode == 0 else ""


def _ancestor(cwd: Path, older: str, newer: str) -> bool:
    r = proc.run(["git", "merge-base", "--is-ancestor", older, newer], cwd=cwd, check=False)
    return r.returncode == 0


def _address(host: Host) -> str:
    """The host in git's ``host:path`` form (the ssh options come from ``GIT_SSH_COMMAND``)."""
    return host.config.target


def _ssh_env(host: Host) -> dict[str, str]:
    """git's ssh: this host's options and its shared master connection."""
    argv = host.ssh_argv()[:-2]  # without the target and "--", which git adds itself
    return {"GIT_SSH_COMMAND": shlex.join(argv), "GIT_SSH_VARIANT": "ssh"}
