"""``ao new``: create a session as a journaled transaction (design §4).

reserve id → record intent → workspace → runtime (the agent is the pane's process) →
wait for readiness → deliver the prompt → mark working. Each completed step is written
to the session record before the next starts, so a failure (or a crash that ``ao gc``
repairs later) knows exactly what to undo. A failure leaves an ``errored`` record.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import sys
import time
import typing as t
from collections.abc import Callable, Mapping
from pathlib import Path

from ao.sdk.contracts import (
    Agent,
    DialogAnswer,
    LaunchContext,
    LaunchSpec,
    McpClient,
    McpServer,
    Placing,
    Resumable,
    RuntimeHandle,
    RuntimeSpec,
    WorkspaceInfo,
    WorkspaceRequest,
)
from ao.sdk.errors import AoError, ConfigError, ConflictError, SpawnError, UsageError
from ao.sdk.gitref import validate_branch
from ao.sdk.home import ao_home, private_dir
from ao.sdk.proc import available_memory
from ao.sdk.textsafe import strip_controls
from ao.session import ports
from ao.session.checkout import ensure_checkout
from ao.session.context import require_binary
from ao.session.delivery import deliver
from ao.session.environment import agent_environment
from ao.session.inputs import check_text_size, read_text_file
from ao.store import events, faults
from ao.store.locks import locked
from ao.store.paths import watcher_name
from ao.store.record import ORCHESTRATOR, Changes
from ao.store.state import ENDED_STATUSES, Status, Step, validate_session_id

if t.TYPE_CHECKING:
    from ao.sdk.contracts import Runtime, Workspace
    from ao.session.context import Context, Project


@dataclasses.dataclass(frozen=True)
class SpawnResult:
    """A session that was created."""

    session_id: str
    branch: str
    worktree: str
    delivery: str  # delivered | unconfirmed | queued | none
    seconds: float


def clean_task(task: str) -> str:
    """The task as literal text: control and escape sequences removed, size bounded
    (``ao.session.inputs.MAX_TEXT_BYTES``, the limit of messages too)."""

    return strip_controls(check_text_size(task, "the task")).strip("\n")


def workspace_request(
    ctx: Context, project: Project, session_id: str, branch: str, base: str | None = None
) -> WorkspaceRequest:
    """The workspace request for ``session_id`` from the project's config; ``base``: the
    branch to start from instead of the project's default branch."""
    cfg = project.config
    return WorkspaceRequest(
        repo=project.repo_path,
        session_id=session_id,
        path=project.paths.worktrees / session_id,
        branch=branch,
        base=base or cfg.default_branch,
        base_local=base is not None,
        copy=tuple(cfg.copy_),
        symlinks=tuple(cfg.symlinks),
        post_create=tuple(tuple(c.run) for c in cfg.post_create),
        post_create_timeouts=tuple(c.timeout for c in cfg.post_create),
        log_path=project.paths.logs / f"{session_id}.post-create.log",
    )


def agent_rules(project: Project) -> str | None:
    """Rules text for the agent from ``agentRules`` or ``agentRulesFile``.

    The file must stay inside the repository once symlinks are resolved (like ``copy``,
    ``symlinks`` and ``workdir``): a rules file is never a way to read other files.
    """

    cfg = project.config
    if cfg.agent_rules_file:
        key = f"projects.{project.id}.agentRulesFile"
        repo = project.repo_path.resolve()
        path = (repo / cfg.agent_rules_file).resolve()
        if not path.is_relative_to(repo):
            raise ConfigError(
                f"{key} ({cfg.agent_rules_file!r}) leads outside the repository, to {path}",
                hint="point it at a file inside the repository",
            )
        if not path.is_file():
            raise ConfigError(
                f"{key} ({cfg.agent_rules_file!r}): {path} is not a file in the repository",
                hint="create the file, or fix the path in the config",
            )
        return read_text_file(path, f"{key} ({path})")
    return cfg.agent_rules


def with_ao_tools(
    ctx: Context, project: Project, session_id: str, agent_name: str, agent: Agent,
    launch_ctx: LaunchContext, spec: LaunchSpec,
) -> LaunchSpec:  # fmt: skip
    """``spec`` with ao's MCP server (``ao mcp``, the same ao as this one) configured: the
    tools an orchestrator agent delegates with."""
    if not isinstance(agent, McpClient):
        raise UsageError(
            f"agent {agent_name!r} cannot be given MCP tools, which an orchestrator needs",
            hint="use claude-code, codex, gemini or kimicode (`--agent`)",
        )
    server = McpServer(
        name="ao", command=(sys.executable, "-m", "ao", "mcp"),
        env=session_env(ctx, project, session_id),
    )  # fmt: skip
    return agent.with_mcp(launch_ctx, spec, (server,))


def session_env(ctx: Context, project: Project, session_id: str) -> dict[str, str]:
    """ao's own variables in every agent process, so `ao` inside a session finds its config."""
    env = {
        "AO_SESSION_ID": session_id,
        "AO_PROJECT": project.id,
        "AO_CONFIG": str(ctx.loaded.path),
        "AO_CALLER_TYPE": "agent",
    }
    if os.environ.get("AO_HOME"):
        env["AO_HOME"] = os.environ["AO_HOME"]
    return env


def launch(
    ctx: Context,
    project: Project,
    session_id: str,
    agent_name: str,
    worktree: Path,
    task: str,
    *,
    resume: Mapping[str, str] | None = None,
) -> tuple[RuntimeHandle, str]:
    """Start the agent's process for ``session_id``; returns the handle and prompt delivery mode.

    With ``resume`` (the session's metadata), an adapter that can continue its own
    conversation (``resume``) is launched that way instead of fresh.
    """
    agent = ctx.agent(agent_name)
    cfg = project.config
    cwd = worktree
    if cfg.workdir:
        cwd = cwd / cfg.workdir
        if not cwd.is_dir():
            # a runtime could silently start the agent somewhere else instead
            raise SpawnError(
                f"working directory {cwd} does not exist in the worktree",
                hint=f"fix `projects.{project.id}.workdir` ({cfg.workdir!r}) in the config",
            )

    state_dir = project.paths.root / "agents" / session_id
    private_dir(state_dir)
    launch_ctx = LaunchContext(
        session_id=session_id,
        worktree=cwd,
        task=task,
        model=cfg.model,
        permissions=cfg.permissions,
        rules=agent_rules(project),
        state_dir=state_dir,
    )
    spec = None
    if resume is not None and isinstance(agent, Resumable):
        spec = agent.resume(launch_ctx, resume)
    if spec is None:
        spec = agent.launch(launch_ctx)
    record = project.store.read(session_id)
    if record.role == ORCHESTRATOR:
        spec = with_ao_tools(ctx, project, session_id, agent_name, agent, launch_ctx, spec)
    if spec.metadata:  # the adapter's own keys, kept in the record as it wrote them
        project.store.update(session_id, extra=dict(spec.metadata))

    block = ports.assign(ctx, project, session_id)
    options = ctx.config.agents.get(agent_name)
    layers = (
        cfg.env,
        options.env if options is not None else {},
        spec.env,
        session_env(ctx, project, session_id),
        ports.environment(ctx.config.ports, block),
    )
    runtime = ctx.runtime(cfg.runtime)
    handle = runtime.create(
        RuntimeSpec(
            name=project.paths.runtime_name(session_id),
            argv=spec.argv,
            cwd=cwd,
            env=agent_environment(*layers),
            owner=runtime_owner(),
            own_env=frozenset(name for layer in layers for name in layer),
            paths=(state_dir,),
            where=record.host_requested or "",
        )
    )
    return handle, spec.prompt_delivery


def runtime_owner() -> str:
    """The tag a runtime keeps on every session this ``$AO_HOME`` starts, so ``ao gc``
    only ever ends sessions that provably are its own (another ``AO_HOME``, e.g. a test
    or a second config root, may share the runtime's server and the config's hash)."""

    return str(ao_home().resolve())


def dialog_logger(project: Project, session_id: str) -> Callable[[DialogAnswer], None]:
    """Record each first-run dialog ao answered as an event."""

    def log(answer: DialogAnswer) -> None:
        events.append(
            project.paths,
            "agent.dialog",
            session=session_id,
            message=f"answered {answer.name} dialog",
            data={"dialog": answer.name, "keys": list(answer.keys)},
        )

    return log


def spawn(
    ctx: Context,
    project: Project,
    task: str,
    *,
    agent_name: str | None = None,
    branch: str | None = None,
    name: str | None = None,
    base: str | None = None,
    host: str | None = None,
    ready_timeout: float = 30.0,
    metadata: Changes | None = None,
) -> SpawnResult:
    """Create a session end to end, or undo everything and leave an ``errored`` record.

    ``base``: the branch the session's branch starts from (default: the project's
    default branch), e.g. another session's branch to build on its commits. ``host``:
    where the runtime is to place it (``ao new --host``; the ssh runtime's host names).

    Past the ``maxSessions`` cap the session is recorded as ``queued`` instead; the
    watcher admits it when a slot frees up. ``metadata`` (e.g. the issue) is in the
    record from the start, before the agent can read it.
    """

    started = time.monotonic()
    task = clean_task(task)
    if branch is not None:
        validate_branch(branch)
    if base is not None:
        validate_branch(base)
    # preflight: everything that can fail before anything is written
    agent_name = ctx.agent_name(project, agent_name)
    agent = ctx.agent(agent_name)
    runtime = ctx.runtime(project.config.runtime)
    ctx.workspace(project.config.workspace)
    if host is not None:
        places = runtime.places() if isinstance(runtime, Placing) else []
        if host not in places:
            runtime_name = project.config.runtime or ctx.config.defaults.runtime
            raise UsageError(
                f"no host {host!r} for the {runtime_name} runtime",
                hint=f"hosts: {', '.join(places)}" if places else
                "only a runtime with hosts (ssh: plugins.ssh.hosts) takes --host",
            )  # fmt: skip

    require_binary(agent.binary, f"agent {agent_name!r}")
    ensure_checkout(project)  # a project with a url and no checkout yet gets one
    if not (project.repo_path / ".git").exists():
        raise UsageError(
            f"project {project.id!r} path {project.repo_path} is not a git repository",
            hint="fix `path` in the config, or give the project a `url` to clone it from",
        )

    store = project.store
    # the capacity check and the reservation are one step: parallel spawns never overshoot
    with capacity_lock(project), names_lock(project) if name else contextlib.nullcontext():
        # an orchestrator plans and delegates: it never takes (or waits for) a worker's slot
        orchestrator = (metadata or {}).get("role") == ORCHESTRATOR
        waits = None if orchestrator else capacity_reason(ctx, project)
        queued = waits is not None
        if name is not None:
            check_name_free(ctx, project, name)
        initial: Changes = {
            "project": project.id,
            "agent": agent_name,
            "runtime": project.config.runtime or ctx.config.defaults.runtime,
            "workspace": project.config.workspace or ctx.config.defaults.workspace,
            "status": Status.QUEUED if queued else Status.SPAWNING,
            "step": Step.RESERVED,
            "task": task,
            "branch_requested": branch or None,
            "base_requested": base or None,
            "host_requested": host or None,
            "spawner_pid": None if queued else os.getpid(),
        }
        initial.update(metadata or {})
        session_id = store.reserve(project.prefix, name=name, **initial)
    faults.point("spawn.reserved")
    if queued:
        events.append(
            project.paths, "session.queued", session=session_id,
            message=f"{session_id} queued: {waits}", data={"reason": waits},
        )  # fmt: skip
        return SpawnResult(session_id, branch or f"ao/{session_id}", "", "queued", 0.0)
    return build(ctx, project, session_id, ready_timeout=ready_timeout, started=started)


def capacity_lock(project: Project) -> contextlib.AbstractContextManager[None]:
    """The config-wide lock under which a slot is counted and taken (spawn, admission)."""

    return locked(ao_home() / "locks" / f"capacity-{project.paths.hash}.lock", timeout=60.0)


def names_lock(project: Project) -> contextlib.AbstractContextManager[None]:
    """The lock under which a ``--name`` is checked against every project and reserved."""

    return locked(ao_home() / "locks" / f"names-{project.paths.hash}.lock")


def check_name_free(ctx: Context, project: Project, name: str) -> None:
    """Refuse a ``--name`` that another project of the config has or may take.

    All projects of a config share one runtime namespace (``{hash}-{id}``) and, when they
    share a repository, one branch namespace (``ao/{id}``): a session id must be unique
    across all of them, and must not be the watcher's name or in another project's
    ``{prefix}-N`` range (that project would hand the same id out later).
    """

    validate_session_id(name)
    if project.paths.runtime_name(name) == watcher_name(ctx.loaded.path):
        raise ConflictError(
            f"session name {name!r} is reserved for the watcher", hint="pick another --name"
        )
    hint = "session names are shared by every project of a config; pick another --name"
    for other in ctx.projects():
        if other.id == project.id:
            continue
        if re.fullmatch(rf"{re.escape(other.prefix)}-\d+", name):
            raise ConflictError(
                f"session name {name!r} is in the id range of project {other.id!r} "
                f"({other.prefix}-N)",
                hint=hint,
            )
        if other.store.exists(name) or other.store.archived(name) is not None:
            raise ConflictError(
                f"session {name!r} already exists in project {other.id!r}", hint=hint
            )


def at_capacity(ctx: Context, project: Project) -> bool:
    """Whether a new session must wait (see ``capacity_reason``)."""
    return capacity_reason(ctx, project) is not None


def capacity_reason(ctx: Context, project: Project) -> str | None:
    """Why a new session must wait as ``queued``: ``maxSessions`` (global or the
    project's) is reached, live sessions hold every port block, or less memory is
    available than ``minFreeMemory``. Callers that act on the answer hold
    ``capacity_lock``."""

    # every session that has not ended holds a slot (and a port block): working,
    # waiting on its PR, stuck...
    live = {
        p.id: sum(
            1 for s in p.store.list()
            if s.status not in (*ENDED_STATUSES, Status.QUEUED) and s.role != ORCHESTRATOR
        )
        for p in ctx.projects()
    }  # fmt: skip
    total = sum(live.values())
    limits = [(ctx.config.max_sessions, total), (project.config.max_sessions, live[project.id])]
    for limit, count in limits:
        if limit is not None and count >= limit:
            return f"the session limit is reached ({count} of maxSessions {limit})"
    if total >= ctx.config.ports.blocks:
        return f"live sessions hold every port block ({total} of `ports.blocks`)"
    floor = ctx.config.min_free_memory
    free = available_memory() if floor is not None else None
    if floor is not None and free is not None and free < floor:
        return f"{_gb(free)} of memory available, below minFreeMemory {_gb(floor)}"
    return None


def _gb(size: int) -> str:
    return f"{size / 1e9:.1f} GB"


def admit(
    ctx: Context, project: Project, session_id: str, ready_timeout: float = 30.0
) -> SpawnResult | None:
    """Start a queued session if a slot is free (called by the watcher); None if not."""
    with capacity_lock(project):
        if capacity_reason(ctx, project) is not None:
            return None
        project.store.update(session_id, status=Status.SPAWNING, spawner_pid=os.getpid())
    return build(ctx, project, session_id, ready_timeout=ready_timeout, started=time.monotonic())


def build(
    ctx: Context, project: Project, session_id: str, *, ready_timeout: float, started: float
) -> SpawnResult:
    """Steps after the id is reserved: workspace, runtime, readiness, prompt — or rollback.

    Holds the session's operation lock, so a stop or send issued meanwhile waits for the
    spawn to finish (or fail) instead of acting on half a session.
    """
    with project.store.operation(session_id, timeout=ready_timeout + 60.0):
        return _build_locked(ctx, project, session_id, ready_timeout=ready_timeout, started=started)


def _build_locked(
    ctx: Context, project: Project, session_id: str, *, ready_timeout: float, started: float
) -> SpawnResult:
    store = project.store
    session = store.read(session_id)
    if session.status != Status.SPAWNING:
        raise SpawnError(
            f"session {session_id} is {session.status or 'unknown'}, no longer spawning",
            hint="it was stopped or repaired while it waited to start",
        )
    agent_name, task = session.agent or "", session.task or ""
    agent = ctx.agent(agent_name)
    runtime = ctx.runtime(project.config.runtime)
    workspace = ctx.workspace(project.config.workspace)
    branch = session.branch_requested or f"ao/{session_id}"
    events.append(
        project.paths, "session.spawning", session=session_id, message=f"spawning {session_id}"
    )
    info: WorkspaceInfo | None = None
    handle: RuntimeHandle | None = None
    try:
        # written first, so a crash inside `git worktree add -b` leaves gc the branch's name
        store.update(session_id, step=Step.WORKSPACE_CREATING, branch=branch)
        faults.point("spawn.workspace-creating")
        request = workspace_request(ctx, project, session_id, branch, session.base_requested)
        info = workspace.create(request)
        faults.point("spawn.workspace-created")
        store.update(
            session_id, step=Step.WORKSPACE, worktree=info.path, branch=info.branch,
            base=info.base, created_branch=info.created_branch,
        )  # fmt: skip
        faults.point("spawn.workspace")
        handle, mode = launch(ctx, project, session_id, agent_name, info.path, task)
        faults.point("spawn.runtime-created")
        store.update(
            session_id, step=Step.RUNTIME, runtime_name=handle.name, runtime_target=handle.target
        )
        faults.point("spawn.runtime")
        delivery = "none"
        if mode == "post-launch" and task:
            result = deliver(
                runtime,
                agent,
                handle,
                task,
                wait=ready_timeout,
                session=store.read(session_id).as_kv(),
                on_dialog=dialog_logger(project, session_id),
            )
            if result.status != "delivered" and "not ready" in result.detail:
                raise SpawnError(
                    f"the agent did not become ready within {ready_timeout:g}s ({result.detail})"
                )
            delivery = result.status
        elif mode == "argv":
            delivery = "delivered"
        store.update(
            session_id, status=Status.WORKING, step=Step.DONE, spawner_pid=None,
            prompt_delivery=delivery,
        )  # fmt: skip
        faults.point("spawn.done")
    except BaseException as exc:
        reason = str(exc) if isinstance(exc, AoError) else f"{type(exc).__name__}: {exc}"
        _rollback(runtime, workspace, project, handle, info)
        store.update(
            session_id, status=Status.ERRORED, step=Step.ROLLED_BACK, error=reason,
            spawner_pid=None,
        )  # fmt: skip
        events.append(
            project.paths, "session.errored", session=session_id, priority="warning",
            message=f"spawn failed: {reason}",
        )  # fmt: skip
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        raise SpawnError(
            f"could not start session {session_id}: {reason}",
            hint="everything created was removed; the errored record stays for `ao status`",
        ) from exc
    events.append(
        project.paths, "session.started", session=session_id,
        message=f"{session_id} started on {branch}", data={"delivery": delivery},
    )  # fmt: skip
    return SpawnResult(
        session_id, info.branch, str(info.path), delivery, time.monotonic() - started
    )


def _rollback(
    runtime: Runtime,
    workspace: Workspace,
    project: Project,
    handle: RuntimeHandle | None,
    info: WorkspaceInfo | None,
) -> None:
    """Undo completed spawn steps, newest first; never raise from here."""
    # Best effort throughout: whatever is left, `ao gc` repairs.
    if handle is not None:
        with contextlib.suppress(Exception):
            runtime.destroy(handle, grace=1.0)
    if info is not None:
        # The worktree was created by this spawn moments ago; only the agent could have
        # written to it, so a failed spawn removes it (its branch keeps any commits).
        with contextlib.suppress(Exception):
            workspace.destroy(project.repo_path, info, force=True)
