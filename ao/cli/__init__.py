"""ao's command line. ``main`` is the one error boundary of the program."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """Run the CLI: AoError becomes one line on stderr and its exit code; ^C exits 130."""
    from ao.errors import AoError

    try:
        from ao.cli.app import build

        args = sys.argv[1:] if argv is None else argv
        rc = build(args[0] if args else None)(args=args, prog_name="ao", standalone_mode=False)
    except AoError as exc:
        from ao.cli.output import error_line

        error_line(exc)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # typer usage errors arrive here in non-standalone mode
        from ao.cli.output import click_error

        if not click_error(exc):
            raise
    else:
        if isinstance(rc, int) and rc:
            sys.exit(rc)
