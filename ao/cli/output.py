"""Everything ao writes to the terminal goes through here: JSON envelopes, tables, errors."""

from __future__ import annotations

import json
import os
import sys
import typing as t

JSON_VERSION = 1

if t.TYPE_CHECKING:
    from rich.console import Console

    from ao.sdk.errors import AoError


def emit_json(data: t.Any) -> None:
    """Print ``{"v": 1, "data": ...}``: the versioned contract of every ``--json`` output."""
    sys.stdout.write(json.dumps({"v": JSON_VERSION, "data": data}, indent=2, default=str) + "\n")


def console(stderr: bool = False) -> Console:
    """A rich console that honours NO_COLOR and prints no styling to pipes."""
    # lazy: loaded by this command only, so `ao --help` stays fast
    from rich.console import Console

    return Console(
        stderr=stderr,
        no_color=bool(os.environ.get("NO_COLOR")),
        highlight=False,
        soft_wrap=True,
    )


def out(text: str = "") -> None:
    """Print a plain line to stdout."""
    sys.stdout.write(text + "\n")


def info(text: str) -> None:
    """Print a progress or status line to stderr (keeps stdout clean for data)."""
    sys.stderr.write(text + "\n")


def error_line(exc: AoError) -> None:
    """The single stderr line for a failed command: what failed, then what to do.

    Known secrets and credential-shaped strings are redacted (``ao.sdk.redact``).
    """
    # lazy: loaded by this command only, so `ao --help` stays fast
    from ao.sdk.redact import redact

    hint = f" — {exc.hint}" if exc.hint else ""
    sys.stderr.write(redact(f"ao: error: {exc.message}{hint}") + "\n")


def click_error(exc: Exception) -> bool:
    """Render a typer/click usage error or abort; return False if ``exc`` is something else."""
    # lazy: loaded by this command only, so `ao --help` stays fast
    from typer import exceptions as tx
    from typer._click import exceptions as cx

    if isinstance(exc, cx.ClickException):
        where = ""
        ctx = getattr(exc, "ctx", None)
        if ctx is not None:
            where = f" (see `{ctx.command_path} --help`)"
        sys.stderr.write(f"ao: error: {exc.format_message()}{where}\n")
        sys.exit(exc.exit_code)
    if isinstance(exc, tx.Abort):
        sys.stderr.write("aborted\n")
        sys.exit(1)
    return False


def table(columns: list[str], rows: list[list[str]], title: str | None = None) -> None:
    """Print rows as a rich table on a TTY and as plain aligned columns on a pipe."""
    if not sys.stdout.isatty():
        widths = [max(len(str(v)) for v in col) for col in zip(columns, *rows, strict=True)]
        for row in [columns, *rows]:
            out("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
        return
    # lazy: loaded by this command only, so `ao --help` stays fast
    from rich.table import Table

    tbl = Table(title=title, box=None, header_style="bold", pad_edge=False)
    for col in columns:
        tbl.add_column(col)
    for row in rows:
        tbl.add_row(*row)
    console().print(tbl)


class _NoSpinner:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def spinner(message: str) -> t.ContextManager[t.Any]:
    """A rich spinner on stderr when it is a terminal; nothing on a pipe."""
    if not sys.stderr.isatty():
        return _NoSpinner()
    return console(stderr=True).status(message)
