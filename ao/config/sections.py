"""Config sections that stand on their own: ports, power, tasks, ``ao fix``, the dashboard."""

from __future__ import annotations

import typing as t

from pydantic import Field, field_validator, model_validator

from ao.config.fields import (
    _DURATION,
    _STRING,
    Command,
    Model,
    _also,
    _as_argv,
    parse_duration,
)


class Ports(Model):
    """A block of TCP ports for each session, so parallel dev servers never clash."""

    base: int = Field(default=41000, ge=1024, le=65000, description="First port of block 0.")
    block_size: int = Field(
        default=10, ge=1, le=1000, description="Ports per session (AO_PORT .. AO_PORT_LAST)."
    )
    blocks: int = Field(
        default=2000, ge=1, le=6000, description="How many blocks exist (sessions at once)."
    )

    @model_validator(mode="after")
    def _fits(self) -> Ports:
        last = self.base + self.block_size * self.blocks - 1
        if last > 65535:
            raise ValueError(f"base + blockSize × blocks reaches port {last} (> 65535)")
        return self


class Power(Model):
    """Power management while sessions run."""

    prevent_idle_sleep: bool = Field(
        default=False, description="Keep the machine awake while sessions run."
    )


class Tasks(Model):
    """How a task's completion is verified (its commands: ``projects.<id>.verify``)."""

    max_attempts: int = Field(
        default=3, ge=1, le=20,
        description="Verification runs per task; after the last failure a human is notified.",
    )  # fmt: skip
    verify_timeout: float = Field(
        default=900.0, gt=0, description="Seconds one verify command may run before it fails.",
        json_schema_extra=_also(_DURATION),
    )  # fmt: skip

    @field_validator("verify_timeout", mode="before")
    @classmethod
    def _duration(cls, v: t.Any) -> float:
        return parse_duration(v)


class Fix(Model):
    """How `ao fix` merges verified fixes back."""

    strategy: t.Literal["rebase", "merge"] = Field(
        default="rebase",
        description="How a fix branch joins the current base before its checks: rebase "
        "(a linear history) or merge.",
    )
    push: bool = Field(
        default=False, description="Push the base branch to origin after each merge."
    )
    max_attempts: int = Field(
        default=3, ge=1, le=20,
        description="Times the merge queue sends an item back (a conflict, a new failure) "
        "before it asks you.",
    )  # fmt: skip


class Dashboard(Model):
    """The local dashboard and REST API (``ao dashboard``; its port is the top-level ``port``)."""

    host: str = Field(
        default="127.0.0.1",
        pattern=r"^[A-Za-z0-9.:_-]{1,253}$",
        description="Address it binds; any other than loopback needs the token for every request.",
    )
    enabled: bool = Field(default=True, description="`ao start` runs it beside the watcher.")


CHECK_PARSERS = ("pytest", "ruff", "eslint", "mypy", "generic")


class CheckConfig(Model):
    """A named check of a project (``ao fix``): a command and how to read its failures."""

    run: Command = Field(
        description="The command: an argv list, or a string split like a shell would "
        "(never run by one).",
        json_schema_extra=_also(_STRING),
    )
    parser: t.Literal["pytest", "ruff", "eslint", "mypy", "generic"] = Field(
        default="generic",
        description="How its output becomes failures: pytest (JUnit XML), ruff, eslint "
        "(their JSON), mypy, generic (the exit status and the output).",
    )
    timeout: float = Field(
        default=900.0, gt=0, description="Seconds before the command is killed.",
        json_schema_extra=_also(_DURATION),
    )  # fmt: skip

    @field_validator("run", mode="before")
    @classmethod
    def _split(cls, v: t.Any) -> t.Any:
        return _as_argv(v)

    @field_validator("run")
    @classmethod
    def _non_empty(cls, v: Command) -> Command:
        if not v:
            raise ValueError("a check needs at least a program name")
        return v

    @field_validator("timeout", mode="before")
    @classmethod
    def _duration(cls, v: t.Any) -> float:
        return parse_duration(v)
