"""The CLI's fast dispatch: `ao CMD` builds only CMD's module, so OWNERS must be exact."""

from __future__ import annotations

import importlib

import typer
from typer.main import get_command

from ao.cli.app import MODULES, OWNERS, build


def registered(module: str) -> set[str]:
    app = typer.Typer()
    app.callback()(lambda: None)
    importlib.import_module(f"ao.cli.{module}").register(app)
    return set(get_command(app).commands)  # type: ignore[attr-defined]


def test_owners_name_every_command_and_its_module() -> None:
    expected = {name: module for module in MODULES for name in registered(module)}
    assert expected == OWNERS


def test_a_single_command_app_has_just_that_modules_commands() -> None:
    group = get_command(build("list"))
    assert set(group.commands) == registered("sessions_cmd")  # type: ignore[attr-defined]
    assert set(get_command(build(None)).commands) == set(OWNERS)  # type: ignore[attr-defined]
