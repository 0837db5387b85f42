"""Issue and pull-request commands: spawn (one session per issue), finalize, merge.

They work through the project's tracker and SCM plugins (``projects.<id>.tracker`` /
``.scm``, else ``defaults.tracker`` / ``defaults.scm``, both ``github`` by default) and
the project's ``repo`` (``owner/name``); the work is done by ``ao.api`` and
``ao.session.publish``.
"""

from __future__ import annotations

import typer

from ao.cli.common import orchestrator

ProjectOpt = typer.Option(None, "--project", "-p", help="Project id (default: the one you are in).")
JsonOpt = typer.Option(False, "--json", help='Print JSON: {"v": 1, "data": ...}.')


def spawn_issues(
    issues: list[str] = typer.Argument(..., help="Issue numbers (7, #7 or issue URLs)."),
    project: str = ProjectOpt,
    agent: str = typer.Option(None, "--agent", "-a", help="Agent plugin (default: config)."),
    parallel: int = typer.Option(4, "--parallel", "-j", min=1, max=16, help="Spawns at once."),
    json_out: bool = JsonOpt,
) -> None:
    """Start one session per issue, in parallel, on branches named after the issues."""
    # lazy: loaded by this command only, so `ao --help` stays fast
    from ao.cli.output import emit_json, info, out

    results = orchestrator().spawn_issues(issues, project=project, agent=agent, parallel=parallel)
    if json_out:
        emit_json([r.to_json() for r in results])
    else:
        for r in results:
            if not r.ok:
                info(f"failed  #{r.issue}: {r.error}")
            elif r.skipped:
                out(f"skipped #{r.issue}: {r.detail}")
            else:
                out(f"started {r.session} for #{r.issue} on {r.branch} ({r.delivery})")
    if any(not r.ok for r in results):
        raise typer.Exit(1)


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
    # lazy: loaded by this command only, so `ao --help` stays fast
    from ao.cli.output import emit_json, out

    result = orchestrator().finalize(
        session_id, project=project, pr=pr, title=title, body=body, draft=draft
    )
    if json_out:
        emit_json(result.to_json())
        return
    committed = ", committed the worktree" if result.committed else ""
    out(f"pushed {result.branch} ({result.commits} commit(s){committed})")
    if result.pr is not None:
        out(f"pull request #{result.pr_number}: {result.pr}")


def merge(
    session_id: str = typer.Argument(..., help="The session whose pull request to merge."),
    strategy: str = typer.Option("squash", "--strategy", "-s", help="merge, squash or rebase."),
    project: str = ProjectOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Merge the session's pull request (then its branch is deleted on the code host)."""
    # lazy: loaded by this command only, so `ao --help` stays fast
    from ao.cli.output import emit_json, out

    result = orchestrator().merge(session_id, project=project, strategy=strategy)
    if json_out:
        emit_json(result.to_json())
        return
    out(f"merged #{result.number} ({result.strategy}): {result.pr}")


def register(app: typer.Typer) -> None:
    """Add spawn, finalize and merge to ``app``."""
    app.command("spawn")(spawn_issues)
    app.command("finalize")(finalize)
    app.command("merge")(merge)
