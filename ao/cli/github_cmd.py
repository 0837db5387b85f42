"""Issue and pull-request commands: spawn (one session per issue), finalize, merge.

They work through the project's tracker and SCM plugins (``projects.<id>.tracker`` /
``.scm``, else ``defaults.tracker`` / ``defaults.scm``, both ``github`` by default) and
the project's ``repo`` (``owner/name``).
"""

from __future__ import annotations

import typing as t
from pathlib import Path

import typer

if t.TYPE_CHECKING:
    from ao.sdk.contracts import Issue, Scm, ScmDetails, Tracker, TrackerDetails
    from ao.session.context import Context, Project
    from ao.store.state import Session

ProjectOpt = typer.Option(None, "--project", "-p", help="Project id (default: the one you are in).")
JsonOpt = typer.Option(False, "--json", help='Print JSON: {"v": 1, "data": ...}.')


def tracker_of(ctx: Context, project: Project) -> Tracker:
    """The project's issue tracker plugin."""
    return ctx.tracker(project.config.tracker or ctx.config.defaults.tracker)


def scm_of(ctx: Context, project: Project) -> Scm:
    """The project's SCM plugin."""
    return ctx.scm(project.config.scm or ctx.config.defaults.scm)


def repo_of(project: Project) -> str:
    """The project's path on its code host (``owner/name``, ``group/sub/name``).

    ``projects.<id>.repo``, else parsed from origin's URL (``https://host/PATH.git`` or
    ``git@host:PATH.git``).
    """
    import re

    from ao.sdk.errors import UsageError
    from ao.sdk.proc import run

    if project.config.repo:
        return project.config.repo
    url = run(["git", "remote", "get-url", "origin"], cwd=project.repo_path, check=False).stdout
    match = re.search(r"^(?:\w+://[^/\s]+/|[^@/\s]+@[^:/\s]+:)([^\s]+?)(?:\.git)?/?$", url.strip())
    if match and "/" in match.group(1):
        return match.group(1)
    raise UsageError(
        f"project {project.id!r} has no repository on a code host",
        hint=f"set `repo: owner/name` under projects.{project.id} in the config",
    )


def tracker_repo_of(project: Project) -> str:
    """The project's name in its tracker: ``trackerProject``, else its repository."""
    return project.config.tracker_project or repo_of(project)


def default_prompt(issue: Issue) -> str:
    """A fenced prompt for trackers without their own ``issue_prompt``."""
    from ao.sdk.textsafe import issue_task

    return issue_task(issue, f"issue {issue.id}")


def _spawn_one(ctx: Context, project: Project, tracker: Tracker, repo: str, ref: str,
               agent: str | None) -> dict[str, t.Any]:  # fmt: skip
    from ao.session.spawn import spawn

    issue = tracker.get_issue(repo, ref)
    live = [s for s in project.store.list() if s.get("issue") == issue.id]
    from ao.lifecycle.machine import TERMINAL

    busy = [s.id for s in live if s.status not in TERMINAL]
    if busy:
        return {"issue": issue.id, "ok": True, "skipped": True, "session": busy[0],
                "detail": f"#{issue.id} already has session {busy[0]}"}  # fmt: skip
    if hasattr(tracker, "issue_prompt"):
        prompt = t.cast("TrackerDetails", tracker).issue_prompt(issue, repo)
    else:
        prompt = default_prompt(issue)
    branch = tracker.branch_name(issue)
    # recorded with the id: the agent may run `ao finalize` as soon as it has the prompt
    issue_data = {"issue": issue.id, "issue_url": issue.url, "issue_title": issue.title[:200]}
    result = spawn(ctx, project, prompt, agent_name=agent, branch=branch, metadata=issue_data)
    return {"issue": issue.id, "ok": True, "session": result.session_id, "branch": result.branch,
            "delivery": result.delivery, "worktree": result.worktree}  # fmt: skip


def spawn_issues(
    issues: list[str] = typer.Argument(..., help="Issue numbers (7, #7 or issue URLs)."),
    project: str = ProjectOpt,
    agent: str = typer.Option(None, "--agent", "-a", help="Agent plugin (default: config)."),
    parallel: int = typer.Option(4, "--parallel", "-j", min=1, max=16, help="Spawns at once."),
    json_out: bool = JsonOpt,
) -> None:
    """Start one session per issue, in parallel, on branches named after the issues."""
    import concurrent.futures

    from ao.cli.output import emit_json, info, out
    from ao.sdk.errors import AoError
    from ao.session.context import Context

    ctx = Context.load()
    proj = ctx.select_project(project)
    repo = tracker_repo_of(proj)
    tracker = tracker_of(ctx, proj)
    # warm the plugin cache once, before threads share it
    agent_name = ctx.agent_name(proj, agent)
    ctx.agent(agent_name)
    ctx.runtime(proj.config.runtime)
    ctx.workspace(proj.config.workspace)
    refs = list(dict.fromkeys(i.strip() for i in issues if i.strip()))

    def work(ref: str) -> dict[str, t.Any]:
        try:
            return _spawn_one(ctx, proj, tracker, repo, ref, agent_name)
        except AoError as exc:
            return {"issue": ref.lstrip("#"), "ok": False, "error": str(exc)}
        except Exception as exc:  # one broken spawn must not hide the others' results
            return {"issue": ref.lstrip("#"), "ok": False, "error": f"{type(exc).__name__}: {exc}"}

    with concurrent.futures.ThreadPoolExecutor(min(parallel, len(refs) or 1)) as pool:
        results = list(pool.map(work, refs))
    if json_out:
        emit_json(results)
    else:
        for r in results:
            if not r["ok"]:
                info(f"failed  #{r['issue']}: {r['error']}")
            elif r.get("skipped"):
                out(f"skipped #{r['issue']}: {r['detail']}")
            else:
                out(f"started {r['session']} for #{r['issue']} on {r['branch']} ({r['delivery']})")
    if any(not r["ok"] for r in results):
        raise typer.Exit(1)


def _git(worktree: Path, *args: str, timeout: float = 60.0) -> str:
    from ao.sdk.proc import run

    return run(["git", *args], cwd=worktree, timeout=timeout).stdout


def _find(ctx: Context, session_id: str, project: str | None) -> tuple[Project, Session]:
    from ao.store.state import validate_session_id

    validate_session_id(session_id)
    return ctx.find_session(session_id, project)


def finalize(
    session_id: str = typer.Argument(..., help="The session whose work to publish."),
    pr: bool = typer.Option(False, "--pr", help="Open a pull request after pushing."),
    title: str = typer.Option(
        None, "--title", "-t", help="Commit/PR title (default: the issue's)."
    ),
    body: str = typer.Option(None, "--body", "-b", help="PR description."),
    draft: bool = typer.Option(False, "--draft", help="Open the pull request as a draft."),
    project: str = ProjectOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Commit what the agent left in the worktree, push the branch, optionally open the PR."""
    from ao.cli.output import emit_json, out
    from ao.sdk.errors import UsageError
    from ao.sdk.textsafe import strip_controls
    from ao.session.context import Context

    ctx = Context.load()
    proj, session = _find(ctx, session_id, project)
    worktree, branch = Path(session.get("worktree")), session.get("branch")
    if not branch or not worktree.is_dir():
        raise UsageError(f"session {session.id} has no worktree", hint="`ao restore` it first")
    base = session.get("base") or proj.config.default_branch
    issue_title = strip_controls(session.get("issue_title")).strip()
    subject = " ".join((title or issue_title or f"Work from ao session {session.id}").split())
    committed = False
    if _git(worktree, "status", "--porcelain").strip():
        # never commit what ao itself placed in the worktree (copied .env files, symlinks)
        excluded = [f":(exclude){p}" for p in (*proj.config.copy_, *proj.config.symlinks)]
        _git(worktree, "add", "-A", "--", ".", *excluded)
        if _git(worktree, "diff", "--cached", "--name-only").strip():
            _git(worktree, "commit", "-q", "-m", subject)
            committed = True
    ahead = _commits_ahead(worktree, base)
    if ahead == 0:
        raise UsageError(f"{branch} has no commits beyond {base}: nothing to publish")
    _git(worktree, "push", "-q", "-u", "origin", f"HEAD:refs/heads/{branch}", timeout=300.0)
    data: dict[str, t.Any] = {"session": session.id, "branch": branch, "committed": committed,
                              "commits": ahead, "pushed": True}  # fmt: skip
    if pr:
        repo = repo_of(proj)
        scm = scm_of(ctx, proj)
        if not hasattr(scm, "open_pr"):
            raise UsageError(
                f"the {proj.config.scm or ctx.config.defaults.scm} SCM cannot open PRs"
            )
        issue = session.get("issue")
        closes = f"#{issue}" if issue.isdigit() else issue  # Linear: "Closes ENG-12"
        text = body if body is not None else (f"Closes {closes}\n\n" if issue else "")
        text += "" if body is not None else f"Opened by ao from session {session.id}."
        state = t.cast("ScmDetails", scm).open_pr(
            repo, head=branch, base=base, title=subject, body=text, draft=draft
        )
        proj.store.update(session.id, {"pr": state.url, "pr_number": str(state.number)})
        data |= {"pr": state.url, "pr_number": state.number}
    if json_out:
        emit_json(data)
        return
    out(f"pushed {branch} ({ahead} commit(s){', committed the worktree' if committed else ''})")
    if pr:
        out(f"pull request #{data['pr_number']}: {data['pr']}")


def _commits_ahead(worktree: Path, base: str) -> int:
    from ao.sdk.proc import run

    for ref in (f"origin/{base}", base):
        r = run(["git", "rev-list", "--count", f"{ref}..HEAD"], cwd=worktree, check=False)
        if r.returncode == 0:
            return int(r.stdout.strip() or 0)
    return int(_git(worktree, "rev-list", "--count", "HEAD").strip() or 0)


def merge(
    session_id: str = typer.Argument(..., help="The session whose pull request to merge."),
    strategy: str = typer.Option("squash", "--strategy", "-s", help="merge, squash or rebase."),
    project: str = ProjectOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Merge the session's pull request (then its branch is deleted on the code host)."""
    from ao.cli.output import emit_json, out
    from ao.sdk.errors import ConflictError, NotFoundError, UsageError
    from ao.session.context import Context

    if strategy not in ("merge", "squash", "rebase"):
        raise UsageError(f"unknown strategy {strategy!r}", hint="merge, squash or rebase")
    ctx = Context.load()
    proj, session = _find(ctx, session_id, project)
    repo, branch = repo_of(proj), session.get("branch")
    scm = scm_of(ctx, proj)
    state = scm.pr_states(repo, [branch]).get(branch)
    if state is None:
        raise NotFoundError(
            f"{branch} has no pull request", hint=f"`ao finalize {session.id} --pr`"
        )
    if state.state != "open":
        raise ConflictError(f"pull request #{state.number} is {state.state}")
    scm.merge(repo, state, strategy)
    if json_out:
        emit_json({"session": session.id, "pr": state.url, "number": state.number,
                   "strategy": strategy, "merged": True})  # fmt: skip
        return
    out(f"merged #{state.number} ({strategy}): {state.url}")


def register(app: typer.Typer) -> None:
    """Add spawn, finalize and merge to ``app``."""
    app.command("spawn")(spawn_issues)
    app.command("finalize")(finalize)
    app.command("merge")(merge)
