"""Request bodies of the REST API: unknown keys are refused and nothing is coerced (a
number where text belongs is an error, not text)."""

from __future__ import annotations

import typing as t

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, model_validator

Text = t.Annotated[StrictStr, Field(min_length=1)]
Name = t.Annotated[StrictStr, Field(min_length=1, max_length=256)]


class Body(BaseModel):
    """Base: unknown keys are errors, values are taken as they are (strict)."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=False)


class CreateBody(Body):
    """``POST /api/sessions``: start a session from a task or an issue (``ao new``)."""

    project_id: Name = Field(alias="projectId", description="The project (its id).")
    issue: StrictStr | StrictInt | None = Field(
        default=None, description="An issue of the project's tracker: a number, `#7` or a URL."
    )
    task: Text | None = Field(default=None, description="What the agent should do.")
    title: Text | None = Field(default=None, description="The same as `task`.")
    agent: Name | None = Field(default=None, description="Agent plugin (default: the config's).")
    branch: Name | None = Field(default=None, description="Branch (default: `ao/<session>`).")
    name: Name | None = Field(default=None, description="A session id instead of `<prefix>-<N>`.")
    ready_timeout: float | None = Field(
        default=None, alias="readyTimeout", ge=0, le=300,
        description="Seconds to wait for the agent to be ready (default 30).",
    )  # fmt: skip

    @model_validator(mode="after")
    def _one_source(self) -> CreateBody:
        if self.task is not None and self.title is not None:
            raise ValueError("give `task` or `title`, not both")
        if self.issue is None and self.task is None and self.title is None:
            raise ValueError("give `task` (or `title`), `issue`, or both")
        return self


class SpawnBody(Body):
    """``POST /api/spawn``, the reference dashboard's spelling of ``POST /api/sessions``."""

    project_id: Name = Field(alias="projectId", description="The project (its id).")
    issue_id: StrictStr | StrictInt | None = Field(
        default=None, alias="issueId", description="An issue of the project's tracker."
    )
    prompt: Text | None = Field(default=None, description="What the agent should do.")

    @model_validator(mode="after")
    def _one_source(self) -> SpawnBody:
        if (self.issue_id is None) == (self.prompt is None):
            raise ValueError("give exactly one of `prompt` and `issueId`")
        return self


class MessageBody(Body):
    """``POST /api/sessions/{id}/message``: text for the agent (``ao send``), keys to press
    (answering a menu: ``["Down", "Enter"]``), or ``interrupt`` alone to stop its turn."""

    content: Text | None = Field(
        default=None, description="The message, delivered as one input (at most 1 MB)."
    )
    keys: list[t.Annotated[StrictStr, Field(max_length=32)]] | None = Field(
        default=None, min_length=1, max_length=64,
        description="Runtime key names pressed in order: Enter, Escape, Down, C-c, y...",
    )  # fmt: skip
    interrupt: bool = Field(
        default=False, description="Stop the turn in progress first (alone: only that)."
    )
    wait: float = Field(
        default=10.0, ge=0, le=120, description="Seconds to wait for the agent to be ready."
    )

    @model_validator(mode="after")
    def _one_kind(self) -> MessageBody:
        if self.content is not None and self.keys is not None:
            raise ValueError("give `content` or `keys`, not both")
        if self.keys is not None and self.interrupt:
            raise ValueError("`interrupt` goes with `content` (or alone), not with `keys`")
        if self.content is None and self.keys is None and not self.interrupt:
            raise ValueError("give `content`, `keys` or `interrupt: true`")
        return self


class RestoreBody(Body):
    """``POST /api/sessions/{id}/restore`` (``ao restore``); the body is optional."""

    resend: bool = Field(default=False, description="Type the original task again.")


class FinalizeBody(Body):
    """``POST /api/sessions/{id}/finalize`` (``ao finalize``); the body is optional."""

    pr: bool = Field(default=False, description="Open the pull request too.")
    title: Name | None = Field(default=None, description="Its title (default: the issue's).")
    draft: bool = Field(default=False, description="Open it as a draft.")


Command = StrictStr | list[StrictStr]


class TaskBody(Body):
    """``POST /api/tasks``: an agent on a goal, completed once verified (``ao task create``)."""

    project_id: Name = Field(alias="projectId", description="The project (its id).")
    goal: Text = Field(description="What the agent should achieve.")
    agent: Name | None = Field(default=None, description="Agent plugin (default: the project's).")
    verify: list[Command] | None = Field(
        default=None, max_length=32,
        description="Commands that must pass in its worktree, each a string (split like a "
        "shell would, never run by one) or an argv list (default: the project's verify).",
    )  # fmt: skip
    base: Name | None = Field(default=None, description="Branch to start from.")
    from_session: Name | None = Field(
        default=None, alias="from", description="Build on this session's branch instead."
    )


class CancelBody(Body):
    """``POST /api/tasks/{id}/cancel`` (``ao task cancel``); the body is optional."""

    keep_session: bool = Field(
        default=False, alias="keepSession", description="Leave its agent running."
    )
    force: bool = Field(default=False, description="Stop its session as `ao stop --force`.")
