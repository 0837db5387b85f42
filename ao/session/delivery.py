"""Message delivery into an agent's input (design §5), with an honest result.

1. wait until the agent is ready for input (bounded);
2. paste the text as one bracketed paste, byte-exact;
3. wait the agent's settle delay, then press Enter as a separate call;
4. confirm that a turn started; retry Enter a bounded number of times.
A busy agent gets the message queued in the session's outbox instead.
"""

from __future__ import annotations

import dataclasses
import re
import time
import typing as t
import uuid
from collections.abc import Mapping
from pathlib import Path

from ao.sdk.contracts import (
    Activity,
    DialogAnswer,
    DialogAnswering,
    Evidence,
    MenuAnswering,
    Observation,
    PaneState,
)
from ao.sdk.errors import ConflictError
from ao.store.locks import write_private

if t.TYPE_CHECKING:
    from ao.sdk.contracts import Agent, Runtime, RuntimeHandle

DeliveryStatus = t.Literal["delivered", "queued", "unconfirmed"]
ACCEPTS_INPUT = ("ready", "needs_input")
POLL = 0.1
MENU_WAIT = 5.0  # seconds a menu choice waits for the menu to be drawn
MENU_SETTLE = 0.5  # a menu drawn a moment ago may not take keys yet (Claude Code drops them)


@dataclasses.dataclass(frozen=True)
class Delivery:
    """The outcome of one send."""

    status: DeliveryStatus
    detail: str
    enter_presses: int = 0


def look(
    runtime: Runtime, handle: RuntimeHandle, session: Mapping[str, str], *, screen: bool = True
) -> Observation:
    """One probe (plus one capture when ``screen``) of the session's pane."""
    pane = runtime.probe().get(handle.name, PaneState(alive=False, running=False))
    text = None
    if screen and pane.alive:
        try:
            text = runtime.capture(handle, 60)
        except Exception:  # the pane vanished between the calls
            text = None
    return Observation(pane=pane, screen=text, session=session)


def answer_dialog(
    runtime: Runtime, agent: Agent, handle: RuntimeHandle, obs: Observation
) -> DialogAnswer | None:
    """If a known dialog is on screen, press its keys and say which one it was."""
    if not isinstance(agent, DialogAnswering) or not obs.screen or not obs.pane.running:
        return None
    answer = agent.dialog(obs.screen)
    if answer is not None:
        runtime.send_keys(handle, *answer.keys)
    return answer


def wait_until_ready(
    runtime: Runtime,
    agent: Agent,
    handle: RuntimeHandle,
    timeout: float,
    session: Mapping[str, str] | None = None,
    on_dialog: t.Callable[[DialogAnswer], None] | None = None,
) -> Activity:
    """Poll until the agent accepts input, has exited or is blocked, or ``timeout`` passes.

    Known first-run dialogs (trust folder, theme...) are answered on the way and
    reported through ``on_dialog``.
    """
    deadline = time.monotonic() + timeout
    meta = session or {}
    while True:
        obs = look(runtime, handle, meta)
        answered = answer_dialog(runtime, agent, handle, obs)
        if answered is not None:
            if on_dialog is not None:
                on_dialog(answered)
            time.sleep(POLL * 3)  # let the dialog close before looking again
            continue
        activity = agent.activity(obs)
        if activity.state in ACCEPTS_INPUT or activity.state in ("exited", "blocked"):
            return activity
        if time.monotonic() >= deadline:
            return activity
        time.sleep(POLL)


def deliver(
    runtime: Runtime,
    agent: Agent,
    handle: RuntimeHandle,
    text: str,
    *,
    wait: float = 10.0,
    outbox: Path | None = None,
    confirm_timeout: float = 3.0,
    enter_retries: int = 2,
    session: Mapping[str, str] | None = None,
    on_dialog: t.Callable[[DialogAnswer], None] | None = None,
) -> Delivery:
    """Deliver ``text`` and report honestly whether a turn started."""
    meta = session or {}
    activity = wait_until_ready(runtime, agent, handle, wait, meta, on_dialog)
    if activity.state == "blocked":
        raise ConflictError(
            f"the agent is blocked: {activity.evidence.detail}",
            hint="fix what it reports (login, usage limit), then send again",
        )
    if activity.state == "needs_input":
        wait_menu = MENU_WAIT if is_choice(text) else 0.0
        answered = _answer_menu(runtime, agent, handle, text, confirm_timeout, meta, wait_menu)
        if answered is not None:
            return answered
    if activity.state == "exited":
        raise ConflictError(
            f"the agent has exited ({activity.evidence.detail})",
            hint="`ao restore` the session, then send again",
        )
    if activity.state not in ACCEPTS_INPUT:
        if outbox is None:
            return Delivery("unconfirmed", f"agent not ready: {activity.evidence.detail}")
        queued = enqueue(outbox, text)
        return Delivery("queued", f"agent is {activity.state}; queued as {queued.name}")
    runtime.paste(handle, text)
    time.sleep(agent.settle_delay())
    before = runtime.capture(handle, 60)
    presses = 0
    for _attempt in range(enter_retries + 1):
        runtime.send_keys(handle, "Enter")
        presses += 1
        started = _turn_started(
            runtime, agent, handle, before, confirm_timeout, meta, since=activity
        )
        if started is not None:
            return Delivery("delivered", started.detail, presses)
    return Delivery("unconfirmed", "no sign that the agent took the message", presses)


_MENU_LINE = re.compile(r"^[\s│|]*(?:[❯›>▶]\s*)?(\d)\.\s+(.+?)(?:\s+\((\w+)\))?[\s│|]*$")
_KEY_NAMES = {"esc": "Escape", "enter": "Enter", "tab": "Tab"}


def is_choice(text: str) -> bool:
    """Whether ``text`` reads as a pick from a menu: a digit, yes/y or no/n."""
    return text.strip().lower() in ("y", "yes", "n", "no") or text.strip().isdigit()


def menu_keys(screen: str, text: str) -> tuple[str, ...] | None:
    """Keys that pick the option ``text`` names in a numbered menu on screen.

    Agent permission prompts are menus that ignore typed text: only the highlighted
    option counts when Enter is pressed, so "no" typed and submitted would approve. A
    number picks that option; yes/y and no/n pick the first option starting with
    Yes/No. The option's own hotkey (``(y)``, ``(esc)``) is preferred, else its number.
    """
    answer = text.strip().lower()
    options: dict[str, tuple[str, str | None]] = {}
    drawn = [line for line in screen.splitlines() if line.strip(" │|\t")]
    for line in drawn[-20:]:
        m = _MENU_LINE.match(line)
        if m:
            options[m.group(1)] = (m.group(2).strip(), m.group(3))
    if len(options) < 2 or not answer or len(answer) > 12:
        return None
    if answer.isdigit():
        chosen = answer if answer in options else None
    else:
        word = {"y": "yes", "n": "no"}.get(answer, answer)
        chosen = next(
            (n for n, (label, _) in sorted(options.items()) if label.lower().startswith(word)),
            None,
        )
    if chosen is None:
        return None
    hotkey = options[chosen][1]
    if hotkey:
        return (_KEY_NAMES.get(hotkey.lower(), hotkey),)
    return (chosen,)


def _answer_menu(
    runtime: Runtime,
    agent: Agent,
    handle: RuntimeHandle,
    text: str,
    timeout: float,
    session: Mapping[str, str],
    wait_menu: float = 0.0,
) -> Delivery | None:
    """Answer a permission menu with the keys that pick ``text``'s option, if it names one.

    A native signal (a transcript's approval request) can announce the question before
    the CLI has drawn its menu; a choice like "no" then waits up to ``wait_menu`` for the
    menu, because typed and submitted, it would pick the highlighted option instead.
    """
    custom = agent if isinstance(agent, MenuAnswering) else None
    deadline = time.monotonic() + wait_menu
    while True:
        screen = runtime.capture(handle, 60)
        keys = custom.answer_keys(screen, text) if custom is not None else None
        keys = keys or menu_keys(screen, text)
        if keys or time.monotonic() >= deadline:
            break
        time.sleep(POLL)
    if not keys:
        return None
    time.sleep(MENU_SETTLE)  # it may have been drawn just now
    screen = runtime.capture(handle, 60)
    runtime.send_keys(handle, *keys)
    started = _turn_started(runtime, agent, handle, screen, timeout, session)
    if started is None:
        return Delivery("unconfirmed", f"pressed {' '.join(keys)}; the prompt did not change", 0)
    return Delivery("delivered", f"answered the prompt with {' '.join(keys)}", 0)


def _turn_started(
    runtime: Runtime,
    agent: Agent,
    handle: RuntimeHandle,
    before: str,
    timeout: float,
    session: Mapping[str, str],
    since: Activity | None = None,
) -> Evidence | None:
    """Evidence that the agent took the input, or None after ``timeout``.

    The question an agent was already asking (``since``) is not a new turn. When the
    agent was ready on a timestamped native signal (its transcript), only that kind of
    evidence counts: a record written after Enter proves a turn even if it already
    ended; a changed screen proves nothing (a redraw, a cursor, a resize).
    """
    pressed = time.time()
    deadline = time.monotonic() + timeout
    trust_screen = not (since is not None and _timestamped_native(since))
    while time.monotonic() < deadline:
        time.sleep(POLL)
        obs = look(runtime, handle, session)
        activity = agent.activity(obs)
        evidence = activity.evidence
        if _timestamped_native(activity) and t.cast(float, evidence.age) < time.time() - pressed:
            return Evidence("agent", f"the agent recorded the input: {evidence.detail}")
        same_question = (
            since is not None
            and since.state == activity.state == "needs_input"
            and since.evidence.detail == activity.evidence.detail
        )
        if activity.state == "working" or (activity.state == "needs_input" and not same_question):
            return Evidence("agent", f"turn started: {activity.evidence.detail}")
        if activity.state == "exited":
            return Evidence("runtime", "the agent exited after the message")
        if trust_screen and obs.screen is not None and obs.screen != before:
            return Evidence("screen", "the screen changed after Enter")
    return None


def _timestamped_native(activity: Activity) -> bool:
    evidence = activity.evidence
    return evidence.source.startswith("native:") and evidence.age is not None


# ------------------------------------------------------------------------- outbox


def enqueue(outbox: Path, text: str) -> Path:
    """Store a message for later delivery; files sort in arrival order."""

    name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.msg"
    write_private(outbox / name, text)
    return outbox / name


def pending(outbox: Path) -> list[Path]:
    """Queued messages, oldest first."""
    if not outbox.is_dir():
        return []
    return sorted(p for p in outbox.iterdir() if p.suffix == ".msg")
