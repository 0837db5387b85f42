"""Config sections that stand on their own: ports, power, tasks, ``ao fix``, the dashboard."""

from __future__ import annotations

import typing as t

from pydantic import Field, field_validator, model_validator

from ao.config.fields import _DURATION, Model, _also, parse_duration


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
