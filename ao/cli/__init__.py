"""ao's command line. ``main`` is the one error boundary of the program."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """Run the CLI: AoError becomes one line on stderr and its exit code; ^C exits 130.

    An ``OSError`` that no command turned into an AoError (a full disk, a read-only or
    misplaced ``AO_HOME``, a deleted working directory) is one line too, naming the path
    and the fix (``FileSystemError``, exit 12), never a traceback.
    """
    # lazy: loaded by this command only, so `ao --help` stays fast
    from ao.sdk.errors import AoError
    from ao.store import diagnostics

    diagnostics.set_sink(_warning)
    try:
        # lazy: only the invoked command's module is loaded (see ao.cli.app)
        from ao.cli.app import build

        args = sys.argv[1:] if argv is None else argv
        rc = build(args[0] if args else None)(args=args, prog_name="ao", standalone_mode=False)
    except AoError as exc:
        # lazy: the error boundary loads only what an error needs
        from ao.cli.output import error_line

        error_line(exc)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        sys.exit(130)
    except OSError as exc:  # a full disk, a read-only AO_HOME, a file where a dir belongs...
        # lazy: the error boundary loads only what an error needs
        from ao.cli.output import error_line
        from ao.store.oserrors import from_os_error

        failure = from_os_error(exc)
        error_line(failure)
        sys.exit(failure.exit_code)
    except SystemExit:
        raise
    except Exception as exc:  # typer usage errors arrive here in non-standalone mode
        # lazy: the error boundary loads only what an error needs
        from ao.cli.output import click_error

        if not click_error(exc):
            raise
    else:
        if isinstance(rc, int) and rc:
            sys.exit(rc)


def _warning(message: str) -> None:
    """Where the core's warnings go on the command line: one line each on stderr."""
    sys.stderr.write(f"ao: warning: {message}\n")
