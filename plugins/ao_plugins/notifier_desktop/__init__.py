"""Desktop notifications: ``notify-send`` on Linux and BSD, ``osascript`` on macOS.

Notification text is untrusted, so it only ever travels as separate argv elements:
never through a shell, and never spliced into an AppleScript source (the script is a
constant that reads its text from ``on run argv``).
"""

from __future__ import annotations

import shutil
import sys
import typing as t
from collections.abc import Mapping

from ao.sdk import proc
from ao.sdk.contracts import API_VERSION, Notification, Notifier
from ao.sdk.errors import AoError, CommandError
from ao.sdk.textsafe import strip_controls

# priority → notify-send urgency
URGENCY = {"urgent": "critical", "action": "normal", "warning": "normal", "info": "low"}

_OPTIONS = ("appName", "sound", "expireTime", "timeout", "platform")

# The text arrives as arguments 2..4; argument 1 is a fixed word that never starts with
# "-", so osascript's option parser stops before any (untrusted) text.
_APPLESCRIPT = (
    "on run argv",
    "display notification (item 3 of argv) with title (item 2 of argv) subtitle (item 4 of argv)",
    "end run",
)
_APPLESCRIPT_SOUND = (
    "on run argv",
    "display notification (item 3 of argv) with title (item 2 of argv)"
    ' subtitle (item 4 of argv) sound name "Glass"',
    "end run",
)


def _line(text: str, limit: int) -> str:
    text = " ".join(strip_controls(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _body(text: str, limit: int = 1000) -> str:
    text = strip_controls(text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _markup_escape(text: str) -> str:
    # most Linux notification daemons render body markup (<b>, <a href>): show text as text
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def notify_send_argv(
    note: Notification, *, app_name: str = "ao", expire_ms: int | None = None
) -> list[str]:
    """The ``notify-send`` command for ``note`` (urgency from its priority)."""
    summary = _line(note.title, 200) or "ao"
    if note.session:
        summary = f"{_line(note.session, 64)}: {summary}"
    argv = ["notify-send", "-a", app_name, "-u", URGENCY.get(note.priority, "normal")]
    if expire_ms is not None:
        argv += ["-t", str(expire_ms)]
    # "--" ends options: a title like "--help" is shown, not parsed
    return [*argv, "--", summary, _markup_escape(_body(note.message))]


def osascript_argv(note: Notification, *, sound: bool = True) -> list[str]:
    """The ``osascript`` command for ``note``: a constant script, the text as arguments."""
    script = _APPLESCRIPT_SOUND if sound and note.priority == "urgent" else _APPLESCRIPT
    argv = ["osascript"]
    for line in script:
        argv += ["-e", line]
    subtitle = " · ".join(_line(x, 64) for x in (note.session, note.project) if x)
    return [*argv, "ao", _line(note.title, 200) or "ao", _body(note.message), subtitle]


class DesktopNotifier(Notifier):
    """Shows a notification on this machine's desktop.

    Options: ``appName`` (default ``ao``), ``sound`` (macOS, urgent only; default
    true), ``expireTime`` (milliseconds, Linux), ``timeout`` (seconds the command may
    take; default 5), ``platform`` (``darwin`` or ``linux``: which command to use;
    default: this machine's).
    """

    api_version = API_VERSION

    def __init__(self, options: Mapping[str, t.Any]) -> None:
        for key in options:
            if key not in _OPTIONS:
                raise AoError(
                    f"desktop notifier: unknown option {key!r}",
                    hint=f"options: {', '.join(_OPTIONS)}",
                )
        self.app_name = str(options.get("appName") or "ao")
        self.sound = bool(options.get("sound", True))
        expire = options.get("expireTime")
        self.expire_ms = int(expire) if expire is not None else None
        self.timeout = float(options.get("timeout", 5.0))
        self.platform = str(options.get("platform") or sys.platform)

    def argv(self, note: Notification) -> list[str]:
        """The command that shows ``note`` on this platform."""
        if self.platform == "darwin":
            return osascript_argv(note, sound=self.sound)
        return notify_send_argv(note, app_name=self.app_name, expire_ms=self.expire_ms)

    def notify(self, note: Notification) -> None:
        """Show ``note``; raise AoError when the command is missing or fails."""
        argv = self.argv(note)
        if shutil.which(argv[0]) is None:
            hint = (
                "osascript ships with macOS; is PATH intact?"
                if argv[0] == "osascript"
                else "install it: apt install libnotify-bin (Debian/Ubuntu), "
                "dnf install libnotify (Fedora)"
            )
            raise CommandError(f"desktop notifier: {argv[0]} not found", hint=hint)
        result = proc.run(argv, timeout=self.timeout, check=False)
        if result.returncode != 0:
            lines = [x for x in result.stderr.strip().splitlines() if x.strip()]
            detail = _line(lines[-1], 300) if lines else "no error output"
            raise CommandError(
                f"desktop notifier: {argv[0]} failed (exit {result.returncode}): {detail}",
                hint="is a notification daemon running on the session D-Bus? "
                "notify-send needs DBUS_SESSION_BUS_ADDRESS"
                if argv[0] == "notify-send"
                else None,
            )
