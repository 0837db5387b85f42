"""The one error tree of ao.

Core code and plugins raise these; the CLI's error boundary (``ao.cli.main``) turns
them into one line on stderr and the class's exit code. A message says what failed;
``hint`` says what to do about it.
"""

from __future__ import annotations

import datetime as dt


class AoError(Exception):
    """Base of every error ao reports to a user."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(AoError):
    """The config file is missing, unreadable or invalid."""

    exit_code = 3


class NotFoundError(AoError):
    """A named project, session, plugin or file does not exist."""

    exit_code = 4


class ConflictError(AoError):
    """The request would lose work or collide with existing state; nothing was changed."""

    exit_code = 5


class UsageError(AoError):
    """Arguments are well-formed for the parser but invalid for ao (bad names, refs...)."""

    exit_code = 2


class CommandError(AoError):
    """An external command (git, a runtime's, an agent CLI) failed or is missing."""

    exit_code = 6


class CommandTimeout(CommandError):
    """An external command did not finish within its timeout."""

    exit_code = 7


class PluginError(AoError):
    """A plugin could not be found, loaded or does not fit its slot."""

    exit_code = 8


class SpawnError(AoError):
    """Creating a session failed; the steps already done were undone."""

    exit_code = 9


class AuthError(AoError):
    """A service (GitHub, GitLab, Linear, an agent's API) refused ao's credentials."""

    exit_code = 10


class RateLimitError(AoError):
    """A service asked ao to slow down; nothing is sent to it until ``until`` (epoch s)."""

    exit_code = 11

    def __init__(self, message: str, *, until: float, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.until = until


def clock_time(epoch: float) -> str:
    """``epoch`` as a UTC clock time for messages (``14:05:09 UTC``)."""

    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%H:%M:%S UTC")


class UnreadableStateError(ConflictError):
    """A state file under ``$AO_HOME`` cannot be read (corrupt, not UTF-8, a directory)."""


class SessionBusyError(ConflictError):
    """Another ao command holds the session's operation lock (a stop, send or restore)."""


class FileSystemError(AoError):
    """The operating system refused a file operation ao needs: permissions, a full disk,
    a read-only filesystem, a file where a directory belongs, a deleted working directory.

    Built from an ``OSError`` by :func:`ao.store.oserrors.from_os_error`; the message names the
    path.
    """

    exit_code = 12
