"""Sessions: create (from a task or an issue), list, status, send, logs, stop, restore, gc.

Only what ``ao list``, ``ao status`` and ``ao send`` need is imported with the module;
the rest (spawn, stop, gc, their results) when a method needs it (see ``ao.api.base``).
"""

from __future__ import annotations

import re
import typing as t
from pathlib import Path

from ao.api.base import Base
from ao.api.results import Sent, SessionCard, SessionDetail, SessionState
from ao.sdk.contracts import IssuePrompting
from ao.sdk.errors import AoError, ConflictError, NotFoundError, UsageError
from ao.session import ops
from ao.store.record import Changes, timestamp
from ao.store.state import ENDED_STATUSES

if t.TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from ao.api.outcomes import Created, GcItem, Interrupted, IssueSpawn, KeysSent, Stopped
    from ao.sdk.contracts import Tracker
    from ao.session.context import Context, Project
    from ao.session.spawn import SpawnResult

KEY_RE = r"[A-Za-z0-9][A-Za-z0-9_+-]{0,31}"  # compiled on first use (re's cache)


class Sessions(Base):
    """Creating, observing, talking to and ending sessions."""

    # ----------------------------------------------------------------- create

    def create(
        self,
        task: str | None = None,
        *,
        project: str | None = None,
        issue: str | None = None,
        agent: str | None = None,
        branch: str | None = None,
        name: str | None = None,
        base: str | None = None,
        parent: str | None = None,
        host: str | None = None,
        ready_timeout: float = 30.0,
    ) -> Created:
        """Start a session: a worktree on its own branch and the agent in its own runtime
        session, given ``task`` (literal text), ``issue`` (a number, ``#7`` or URL of the
        project's tracker, whose text becomes the task, fenced as untrusted data), or both
        (the task first, then the issue's text; the session is linked to the issue: its
        branch name, ``finalize``'s ``Closes #N``).

        Where its workspace starts: ``base``, a branch (default: the project's default
        branch); or ``parent``, a live session of the same project whose branch the new
        one builds on (its commits, pushed or not; not its uncommitted changes). A
        repository by URL is provisioned with ``add_project`` (a full clone).

        ``project``: explicit, else the only one, else the one around ``cwd``. ``agent``:
        an agent plugin (default: the config's). ``branch``: default ``ao/<session>``, or
        the tracker's name for an issue. ``name``: a session id instead of
        ``<prefix>-<N>``. ``host``: where the runtime places it (a host of the ssh
        runtime; default: the runtime chooses). Past ``maxSessions`` the session is queued
        (``delivery == "queued"``). A failed spawn is a SpawnError and undoes everything
        it made; an issue that already has a live session is a ConflictError.
        """
        from ao.session.spawn import spawn  # lazy: see ao.api.base

        if task is None and issue is None:
            raise UsageError("give a task or an issue (or both)")
        if base is not None and parent is not None:
            raise UsageError("give a base branch or a parent session, not both")
        ctx = self.context
        proj = self._select(project)
        if parent is not None:
            base = self._parent_branch(proj, parent)
        if issue is not None:
            tracker, repo = self._issue_source(ctx, proj)
            started, result = self._spawn_issue(
                ctx, proj, tracker, repo, issue, agent,
                branch=branch, name=name, base=base, host=host, ready_timeout=ready_timeout,
                task=task,
            )  # fmt: skip
            if result is None:
                raise ConflictError(
                    started.detail or f"issue {issue} already has a session",
                    hint=f"`ao status {started.session}`",
                )
        else:
            result = spawn(
                ctx, proj, t.cast("str", task), agent_name=agent, branch=branch, name=name,
                base=base, host=host, ready_timeout=ready_timeout,
            )  # fmt: skip
        return self._created(ctx, proj, result)

    def _parent_branch(self, proj: Project, parent: str) -> str:
        if not proj.store.exists(parent):
            raise NotFoundError(
                f"no live session {parent!r} in project {proj.id!r} to start from",
                hint="see `ao list`",
            )
        branch = proj.store.read(parent).branch
        if not branch:
            raise ConflictError(f"session {parent} has no branch yet (it is still starting)")
        return branch

    def _created(self, ctx: Context, proj: Project, result: SpawnResult) -> Created:
        # lazy: only this method needs these, so `ao list` stays light
        from ao.api.outcomes import Created

        state = SessionState.of_view(ops.view(ctx, proj.store.read(result.session_id)))
        worktree = Path(result.worktree) if result.worktree else None
        return Created(
            result.session_id, proj.id, result.branch, worktree, result.delivery,
            result.seconds, state,
        )  # fmt: skip

    def spawn_issues(
        self,
        issues: Sequence[str],
        *,
        project: str | None = None,
        agent: str | None = None,
        parallel: int = 4,
    ) -> list[IssueSpawn]:
        """One session per issue, ``parallel`` spawns at once, on the tracker's branch
        names. Issues that already have a live session are skipped; a spawn that fails is
        reported in its result (``ok`` false, ``error``) and the others go on."""
        import concurrent.futures  # lazy: only `ao spawn` runs threads

        # lazy: only this method needs it, so `ao list` stays light
        from ao.api.outcomes import IssueSpawn

        ctx = self.context
        proj = self._select(project)
        tracker, repo = self._issue_source(ctx, proj)
        # warm the plugin cache once, before threads share it
        agent_name = ctx.agent_name(proj, agent)
        ctx.agent(agent_name)
        ctx.runtime(proj.config.runtime)
        ctx.workspace(proj.config.workspace)
        refs = list(dict.fromkeys(i.strip() for i in issues if i.strip()))

        def work(ref: str) -> IssueSpawn:
            try:
                return self._spawn_issue(ctx, proj, tracker, repo, ref, agent_name)[0]
            except AoError as exc:
                return IssueSpawn(ref.lstrip("#"), False, error=str(exc))
            except Exception as exc:  # one broken spawn must not hide the others' results
                return IssueSpawn(ref.lstrip("#"), False, error=f"{type(exc).__name__}: {exc}")

        with concurrent.futures.ThreadPoolExecutor(max(1, min(parallel, len(refs)))) as pool:
            return list(pool.map(work, refs))

    def _issue_source(self, ctx: Context, proj: Project) -> tuple[Tracker, str]:
        from ao.session.publish import tracker_of, tracker_repo_of  # lazy: see ao.api.base

        return tracker_of(ctx, proj), tracker_repo_of(proj)

    def _spawn_issue(
        self,
        ctx: Context,
        proj: Project,
        tracker: Tracker,
        repo: str,
        ref: str,
        agent: str | None,
        *,
        branch: str | None = None,
        name: str | None = None,
        base: str | None = None,
        host: str | None = None,
        ready_timeout: float = 30.0,
        task: str | None = None,
    ) -> tuple[IssueSpawn, SpawnResult | None]:
        """Spawn a session for issue ``ref``, or skip it when it has a live session;
        ``task``: the user's own words, given first, the issue's text after them."""
        # lazy: only this method needs these, so `ao list` stays light
        from ao.api.outcomes import IssueSpawn
        from ao.sdk.textsafe import issue_task
        from ao.session.spawn import spawn  # lazy: see ao.api.base

        issue = tracker.get_issue(repo, ref)
        live = [s for s in proj.store.list() if s.issue == issue.id]
        busy = [s.id for s in live if s.status not in ENDED_STATUSES]
        if busy:
            detail = f"#{issue.id} already has session {busy[0]}"
            return IssueSpawn(issue.id, True, session=busy[0], skipped=True, detail=detail), None
        if isinstance(tracker, IssuePrompting):
            prompt = tracker.issue_prompt(issue, repo)
        else:
            prompt = issue_task(issue, f"issue {issue.id}")
        if task is not None and task.strip():
            prompt = f"{task.strip()}\n\n{prompt}"
        # recorded with the id: the agent may run `ao finalize` as soon as it has the prompt
        issue_data: Changes = {
            "issue": issue.id,
            "issue_url": issue.url,
            "issue_title": issue.title[:200],
        }
        result = spawn(
            ctx, proj, prompt, agent_name=agent, branch=branch or tracker.branch_name(issue),
            name=name, base=base, host=host, ready_timeout=ready_timeout, metadata=issue_data,
        )  # fmt: skip
        started = IssueSpawn(
            issue.id, True, session=result.session_id, branch=result.branch,
            delivery=result.delivery, worktree=result.worktree,
        )  # fmt: skip
        return started, result

    # ----------------------------------------------------------------- observe

    def sessions(self, project: str | None = None, *, archived: bool = False) -> list[SessionState]:
        """Every live session (of ``project``, else of every project) with its status and
        live activity; with ``archived``, stopped sessions too (after the live ones)."""
        projects = self._projects(project)
        rows = [SessionState.of_view(v) for v in ops.views(self.context, projects)]
        if archived:
            rows += [SessionState.of_archived(r) for p in projects for r in p.store.archived_all()]
        return rows

    def cards(self, project: str | None = None, *, usage: bool = False) -> list[SessionCard]:
        """Every live session as the dashboard shows it (``SessionCard``), from the same
        observation as ``sessions`` (one probe and one batched capture per runtime); with
        ``usage``, what each agent's own records say too (tokens, cost: local files)."""
        ctx = self.context
        cards = []
        for v in ops.views(ctx, self._projects(project)):
            s = v.session
            cards.append(SessionCard(
                session=SessionState.of_view(v), evidence=v.activity.evidence,
                pr=s.pr or None, pr_number=s.pr_number, issue=s.issue or None,
                issue_url=s.issue_url or None, issue_title=s.issue_title or None,
                info=ops.info(ctx, s) if usage else None,
            ))  # fmt: skip
        return cards

    def status(
        self, session_id: str, *, project: str | None = None, details: bool = True
    ) -> SessionDetail:
        """One live session in detail: its activity read from the screen too, the evidence
        behind it, and (with ``details``) what the agent's own records say (tokens, cost)."""
        from ao.session import ports  # lazy: probing ports imports socket

        _, session = self._session(session_id, project)
        ctx = self.context
        v = ops.view(ctx, session)
        since = session.status_since or session.created_at
        return SessionDetail(
            session=SessionState.of_view(v),
            evidence=v.activity.evidence,
            pane=session.runtime_target or None,
            prompt_delivery=session.prompt_delivery or None,
            ports=ports.describe(ctx, session.port_block),
            info=ops.info(ctx, session) if details else None,
            status_reason=session.status_reason or None,
            status_since=timestamp(since) if since else "",
        )

    def logs(self, session_id: str, *, project: str | None = None, lines: int = 50) -> str:
        """The last ``lines`` lines the session's agent shows, or, once it stopped, of its
        saved last screen (NotFoundError when there is neither)."""
        holder = self._holder(session_id, project)
        return ops.logs(self.context, holder, session_id, lines)

    def follow(self, session_id: str, *, project: str | None = None) -> Iterator[str]:
        """New lines of the live session's output as they appear, until its agent ends."""
        _, session = self._session(session_id, project)
        return ops.follow(self.context, session)

    def attach_command(self, session_id: str, *, project: str | None = None) -> list[str]:
        """The command that puts a human in front of the live session (its terminal)."""
        _, session = self._session(session_id, project)
        return ops.attach_argv(self.context, session)

    def view_command(self, session_id: str, *, project: str | None = None) -> list[str]:
        """The runtime's own command that shows the live session in the terminal it runs in:
        what a front-end runs in a pseudo-terminal it relays (the dashboard's browser
        terminals). Unlike ``attach_command``, never through the terminal plugin and never
        a switch of a view this process is in. ConflictError when the session has no live
        runtime session."""
        _, session = self._session(session_id, project)
        ctx = self.context
        handle = ops.handle_of(session)
        runtime_name = session.runtime or ctx.config.defaults.runtime
        if handle is None:
            raise ConflictError(
                f"session {session_id} has no {runtime_name} session yet",
                hint=f"wait for it to start, or `ao restore {session_id}`",
            )
        runtime = ctx.runtime(runtime_name)
        if not runtime.probe().get(handle.name, ops.GONE).alive:
            raise ConflictError(
                f"session {session_id} has no {runtime_name} session",
                hint=f"`ao restore {session_id}`",
            )
        return runtime.attach_argv(handle, inside=False)

    # ----------------------------------------------------------------- talk

    def send(
        self,
        session_id: str,
        text: str,
        *,
        project: str | None = None,
        wait: float = 10.0,
        interrupt: bool = False,
    ) -> Sent:
        """Deliver ``text`` to the session's agent as one input, byte-exact (control and
        escape sequences removed). Messages queued earlier go first; a busy agent gets it
        queued (the watcher delivers it when the turn ends). ``wait``: seconds to wait for
        the agent to be ready. ``interrupt``: stop a turn in progress first."""
        # lazy: only this method needs these, so `ao list` stays light
        from ao.session.inputs import check_text_size

        check_text_size(text)
        if not text.strip():
            raise UsageError("the message is empty")
        proj, session = self._session(session_id, project)
        result = ops.send(self.context, proj, session, text, wait=wait, interrupt=interrupt)
        return Sent(session.id, result.status, result.detail)

    def send_keys(
        self, session_id: str, keys: Sequence[str], *, project: str | None = None
    ) -> KeysSent:
        """Press ``keys`` in the session's agent: runtime key names such as ``Enter``,
        ``Escape``, ``Down``, ``C-c``, or single characters (text goes through ``send``)."""
        # lazy: only this method needs these, so `ao list` stays light
        from ao.api.outcomes import KeysSent

        bad = [k for k in keys if not re.fullmatch(KEY_RE, k)]
        if bad or not keys:
            raise UsageError(
                f"not a key name: {bad[0]!r}" if bad else "no keys given",
                hint="key names like Enter, Escape, Down, C-c; send text with `send`",
            )
        proj, session = self._session(session_id, project)
        ops.send_keys(self.context, proj, session, keys)
        return KeysSent(session.id, tuple(keys), f"pressed {' '.join(keys)}")

    def interrupt(self, session_id: str, *, project: str | None = None) -> Interrupted:
        """Stop the agent's turn in progress with its own interrupt keys (UsageError for an
        agent that has none); nothing when it is not working."""
        # lazy: only this method needs these, so `ao list` stays light
        from ao.api.outcomes import Interrupted

        proj, session = self._session(session_id, project)
        done = ops.interrupt(self.context, proj, session)
        return Interrupted(session.id, bool(done), done or "the agent was not working")

    # ----------------------------------------------------------------- end, revive, repair

    def stop(self, session_id: str, *, project: str | None = None, force: bool = False) -> Stopped:
        """End the agent, archive the record, and remove the worktree unless it holds work.

        With ``force`` the work is saved first (uncommitted changes as a WIP commit on the
        branch, ignored files and nested repos moved to ``$AO_HOME/<project>/saved/``) and
        the worktree removed; branches with unpushed commits are never deleted.
        """
        proj, session = self._session(session_id, project)
        return self._stop(proj, session.id, force)

    def stop_all(self, project: str, *, force: bool = False) -> list[Stopped]:
        """``stop`` every live session of ``project``."""
        proj = self.context.project(project)
        return [self._stop(proj, s.id, force) for s in proj.store.list()]

    def _stop(self, proj: Project, session_id: str, force: bool) -> Stopped:
        # lazy: only this method needs these, so `ao list` stays light
        from ao.api.outcomes import Stopped
        from ao.session.stop_restore import stop  # lazy: see ao.api.base

        r = stop(self.context, proj, proj.store.read(session_id), force=force)
        return Stopped(
            r.session_id, r.worktree, r.worktree_removed, r.snapshot, r.kept_reason,
            r.archived, r.saved,
        )  # fmt: skip

    def restore(
        self, session_id: str, *, project: str | None = None, resend: bool = False
    ) -> SessionState:
        """Restart a stopped or exited session in its worktree, on its branch, with the same
        id (the agent continues its conversation when it can). ``resend``: type the
        original task again after launch."""
        from ao.session.stop_restore import restore  # lazy: see ao.api.base

        holder = self._holder(session_id, project)
        session = restore(self.context, holder, session_id, resend=resend)
        return SessionState.of_view(ops.view(self.context, session))

    def gc(self, *, project: str | None = None, dry_run: bool = False) -> list[GcItem]:
        """Repair what crashes leave behind: half-done spawns, orphan runtime sessions and
        worktrees (never one holding work), stale locks, temp files, old cache entries."""
        # lazy: only this method needs these, so `ao list` stays light
        from ao.api.outcomes import GcItem
        from ao.session.gc import collect  # lazy: see ao.api.base

        actions = collect(self.context, self._projects(project), dry_run=dry_run)
        return [GcItem(a.kind, a.target, a.detail, a.done) for a in actions]
