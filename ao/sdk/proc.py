"""The one seam through which ao runs external commands.

Every call takes an argv list (never a shell string) and a timeout; failures raise
``CommandError`` with the command and its stderr. Set ``AO_TRACE_SUBPROCESS`` to a file
path to append one line per command run (used by ``make bench`` to count them).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import typing as t
from collections.abc import Mapping, Sequence
from pathlib import Path

from ao.sdk.errors import CommandError, CommandTimeout

DEFAULT_TIMEOUT = 30.0


class Result(t.NamedTuple):
    """What a finished command returned."""

    returncode: int
    stdout: str
    stderr: str


def _trace(argv: Sequence[str]) -> None:
    trace = os.environ.get("AO_TRACE_SUBPROCESS")
    if trace:
        with Path(trace).open("a", encoding="utf-8") as fh:
            fh.write(shlex.join(argv) + "\n")


def run(
    argv: Sequence[str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    cwd: str | os.PathLike[str] | None = None,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> Result:
    """Run ``argv`` to completion and capture its output as text.

    Raises ``CommandError`` when the program is missing or (with ``check``) exits
    non-zero, and ``CommandTimeout`` when it outlives ``timeout`` seconds.
    """
    argv = [str(a) for a in argv]
    _trace(argv)
    full_env = None if env is None else {**os.environ, **env}
    try:
        # Its own session, so a timeout ends everything the command started (npm → node).
        child = subprocess.Popen(
            argv,
            cwd=cwd,
            env=full_env,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,
        )
    except FileNotFoundError:
        raise CommandError(
            f"command not found: {argv[0]}", hint=f"install {argv[0]} or fix PATH"
        ) from None
    try:
        stdout, stderr = child.communicate(input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        raise CommandTimeout(f"`{shlex.join(argv)}` did not finish within {timeout:g}s") from None
    except BaseException:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
        raise
    result = Result(child.returncode, stdout, stderr)
    if check and child.returncode != 0:
        raise CommandError(
            f"`{shlex.join(argv)}` failed (exit {child.returncode}): {_last_line(stderr)}"
        )
    return result


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no error output"


def available_memory() -> int | None:
    """Bytes of memory available for new processes (Linux ``MemAvailable``), or None."""
    try:
        with Path("/proc/meminfo").open(encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def pid_alive(pid: int | str | None) -> bool:
    """Whether process ``pid`` (an int, or the digits of a record's field) exists."""
    if isinstance(pid, str):
        if not pid.isdigit():
            return False
        pid = int(pid)
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True
