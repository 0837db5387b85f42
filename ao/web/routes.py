"""The REST routes: each parses its input, calls one ``Orchestrator`` method and renders
the JSON document the matching ``ao … --json`` prints (its ``data``).

Handlers that call the API are plain functions: FastAPI runs them in its thread pool, so
a spawn that waits for its agent never blocks the server. Session ids in paths are
checked by the API as the CLI's are (``UsageError``, 400).
"""

from __future__ import annotations

import asyncio
import contextlib
import typing as t

from fastapi import APIRouter, Body, Header, Query, Request, WebSocket
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from ao import __version__
from ao.web.fleet import listed
from ao.web.models import (
    CancelBody,
    CreateBody,
    FinalizeBody,
    MessageBody,
    RestoreBody,
    SpawnBody,
    TaskBody,
)
from ao.web.security import given_token
from ao.web.stream import EventStream
from ao.web.terminal import serve_viewer

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from ao.api import Created, Orchestrator
    from ao.web.fleet import Fleet
    from ao.web.terminal import TerminalHub

ProjectQuery = Query(None, description="The project holding the session (when ids collide).")
ForceQuery = Query(False, description="Save the work first, then remove the worktree.")
TaskProjectQuery = Query(None, description="The project holding the task (ids are per project).")


def router(
    api: Orchestrator, fleet: Fleet, hub: TerminalHub, stopping: Callable[[], bool]
) -> APIRouter:
    """The ``/api`` routes over ``api``; ``fleet`` serves the session list, ``hub`` the
    terminals."""
    r = APIRouter(prefix="/api")

    @r.get("/health", summary="The server answers")
    def health(request: Request) -> JSONResponse:
        return JSONResponse({
            "status": "ok", "version": __version__, "viewers": fleet.viewers,
            "terminals": {"views": hub.attachments, "viewers": hub.viewers},
            # the Guard refused a wrong token: one given here is the right one
            "authenticated": given_token(request.scope, request.headers) is not None,
        })  # fmt: skip

    @r.get("/projects", summary="Configured projects")
    def projects() -> JSONResponse:
        return JSONResponse([p.to_json() for p in api.projects()])

    @r.get("/agents", summary="Agent adapters on this machine (`ao agents --json`)")
    def agents() -> JSONResponse:
        return JSONResponse([a.to_json() for a in api.agents()])

    # ------------------------------------------------------------------- sessions

    @r.get("/sessions", summary="Sessions (`ao list --json`)")
    async def sessions(
        project: str | None = Query(None, description="Only this project's."),
        archived: bool = Query(False, alias="all", description="Stopped sessions too."),
    ) -> JSONResponse:
        if project is not None:
            await asyncio.to_thread(api.select_project, project)  # 404 for an unknown one
        rows = await fleet.rows(archived=archived)
        return JSONResponse([listed(row) for row in rows if project in (None, row["project"])])

    @r.post("/sessions", status_code=201, summary="Start a session (`ao new --json`)")
    def create(body: CreateBody) -> JSONResponse:
        issue = None if body.issue is None else str(body.issue)
        with changes(fleet):
            created = api.create(
                body.task or body.title, project=body.project_id, issue=issue,
                agent=body.agent, branch=body.branch, name=body.name,
                ready_timeout=30.0 if body.ready_timeout is None else body.ready_timeout,
            )  # fmt: skip
        return _created(created)

    @r.post("/spawn", status_code=201, summary="Start a session (the reference's body)")
    def spawn(body: SpawnBody) -> JSONResponse:
        issue = None if body.issue_id is None else str(body.issue_id)
        with changes(fleet):
            return _created(api.create(body.prompt, project=body.project_id, issue=issue))

    @r.get("/sessions/{session_id}", summary="One session (`ao status SESSION --json`)")
    @r.get("/sessions/{session_id}/status", summary="One session (`ao status SESSION --json`)")
    def status(session_id: str, project: str | None = ProjectQuery) -> JSONResponse:
        return JSONResponse(api.status(session_id, project=project).to_json())

    @r.get("/sessions/{session_id}/why", summary="The evidence behind its state (`ao why --json`)")
    def why(session_id: str, project: str | None = ProjectQuery) -> JSONResponse:
        return JSONResponse(api.status(session_id, project=project, details=False).why_json())

    @r.post("/sessions/{session_id}/message", summary="Send text or keys (`ao send --json`)")
    @r.post("/sessions/{session_id}/send", summary="Send text or keys (as /message)")
    def message(
        session_id: str, body: MessageBody, project: str | None = ProjectQuery
    ) -> JSONResponse:
        with changes(fleet):
            if body.keys is not None:
                done = api.send_keys(session_id, body.keys, project=project).to_json()
            elif body.content is None:
                done = api.interrupt(session_id, project=project).to_json()
            else:
                done = api.send(
                    session_id, body.content, project=project, wait=body.wait,
                    interrupt=body.interrupt,
                ).to_json()  # fmt: skip
        return JSONResponse(done)

    @r.get(
        "/sessions/{session_id}/logs",
        response_class=PlainTextResponse,
        summary="What the agent shows (`ao logs`), as text",
    )
    def logs(
        session_id: str,
        lines: int = Query(50, ge=1, le=10000, description="How many lines."),
        project: str | None = ProjectQuery,
    ) -> PlainTextResponse:
        return PlainTextResponse(api.logs(session_id, project=project, lines=lines) + "\n")

    @r.delete("/sessions/{session_id}", summary="Stop a session (an element of `ao stop --json`)")
    @r.post("/sessions/{session_id}/kill", summary="Stop a session (as DELETE)")
    def stop(
        session_id: str, force: bool = ForceQuery, project: str | None = ProjectQuery
    ) -> JSONResponse:
        with changes(fleet):
            return JSONResponse(api.stop(session_id, project=project, force=force).to_json())

    @r.post("/sessions/{session_id}/restore", summary="Restart a session (`ao restore --json`)")
    def restore(
        session_id: str,
        body: RestoreBody | None = Body(None),
        project: str | None = ProjectQuery,
    ) -> JSONResponse:
        resend = body.resend if body is not None else False
        with changes(fleet):
            restored = api.restore(session_id, project=project, resend=resend)
        return JSONResponse(restored.to_json())

    @r.post("/sessions/{session_id}/finalize", summary="Commit, push, open the PR (`ao finalize`)")
    def finalize(
        session_id: str,
        body: FinalizeBody | None = Body(None),
        project: str | None = ProjectQuery,
    ) -> JSONResponse:
        body = body or FinalizeBody()
        with changes(fleet):
            published = api.finalize(
                session_id, project=project, pr=body.pr, title=body.title, draft=body.draft
            )
        return JSONResponse(published.to_json())

    @r.websocket("/sessions/{session_id}/terminal")
    async def terminal(
        ws: WebSocket,
        session_id: str,
        project: str | None = None,
        cols: int = 80,
        rows: int = 24,
    ) -> None:
        """The session's terminal (docs/dashboard.md, "Terminals"); the token is required."""
        await serve_viewer(ws, hub, api, session_id, project=project, cols=cols, rows=rows)

    # ------------------------------------------------------------------- tasks

    @r.get("/tasks", summary="Tasks (`ao task list --json`)")
    def tasks(
        project: str | None = Query(None, description="Only this project's."),
        open_only: bool = Query(False, alias="open", description="Only those not ended."),
    ) -> JSONResponse:
        return JSONResponse([t.to_json() for t in api.tasks(project=project, open_only=open_only)])

    @r.post("/tasks", status_code=201, summary="Start a task (`ao task create --json`)")
    def create_task(body: TaskBody) -> JSONResponse:
        with changes(fleet):
            task = api.create_task(
                body.goal, project=body.project_id, agent=body.agent, verify=body.verify,
                base=body.base, parent_session=body.from_session,
            )  # fmt: skip
        headers = {"Location": f"/api/tasks/{task.id}?project={task.project}"}
        return JSONResponse(task.to_json(), status_code=201, headers=headers)

    @r.get("/tasks/{task_id}", summary="One task (`ao task show TASK --json`)")
    def task(task_id: str, project: str | None = TaskProjectQuery) -> JSONResponse:
        return JSONResponse(api.task(task_id, project=project).to_json())

    @r.post("/tasks/{task_id}/cancel", summary="Cancel a task (`ao task cancel --json`)")
    def cancel_task(
        task_id: str, body: CancelBody | None = Body(None), project: str | None = TaskProjectQuery
    ) -> JSONResponse:
        body = body or CancelBody()
        with changes(fleet):
            cancelled = api.cancel_task(
                task_id, project=project, stop=not body.keep_session, force=body.force
            )
        return JSONResponse(cancelled.to_json())

    # ------------------------------------------------------------------- events

    @r.get("/events", summary="The event log (`{events, cursor}`)")
    def events(
        since: str | None = Query(None, description="A cursor: only the events after it."),
        project: str | None = Query(None, description="Only this project's."),
        session: str | None = Query(None, description="Only this session's."),
        limit: int | None = Query(
            None, ge=0, le=100000, description="The last N (default without `since`: 100)."
        ),
    ) -> JSONResponse:
        if since is None and limit is None:
            limit = 100
        page = api.events(since, project=project, session=session, limit=limit)
        return JSONResponse(page.to_json())

    @r.get(
        "/events/stream",
        response_class=StreamingResponse,
        summary="Server-sent events: the log as it grows, and the sessions when they change",
    )
    async def stream(
        since: str | None = Query(None, description="A cursor to resume from."),
        project: str | None = Query(None, description="Only this project's."),
        session: str | None = Query(None, description="Only this session's."),
        last_event_id: str | None = Header(None, description="Set by browsers on reconnect."),
    ) -> Response:
        cursor = last_event_id or since
        if cursor is None:  # from now on: the cursor at the end of the log
            page = await asyncio.to_thread(api.events, project=project, session=session, limit=0)
        else:  # checks the cursor before the stream starts (400 when it is not one)
            page = await asyncio.to_thread(api.events, cursor, project=project, session=session)
        body = EventStream(
            api, fleet, start=cursor or page.cursor, cursor=page.cursor,
            missed=[e.to_json() for e in page.events], resumed=cursor is not None,
            project=project, session=session, stopping=stopping,
        )  # fmt: skip
        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(body, media_type="text/event-stream", headers=headers)

    return r


@contextlib.contextmanager
def changes(fleet: Fleet) -> Iterator[None]:
    """Around a call that changes the fleet: the next read refreshes (also after a failure,
    which may have changed something: a spawn rolled back, a stop half done)."""
    try:
        yield
    finally:
        fleet.invalidate()


def _created(created: Created) -> JSONResponse:
    return JSONResponse(
        created.to_json(), status_code=201, headers={"Location": f"/api/sessions/{created.id}"}
    )
