"""Each session's own block of TCP ports, so parallel dev servers never clash.

The config's ``ports`` (``base``, ``blockSize``, ``blocks``) cut a range into numbered
blocks. A session holds the block recorded in its metadata (``port_block``) while its
record is live and not ended (stopping archives it and frees the block); every project
of a config shares the blocks, since they share the machine. A new session takes the
lowest block that no such session holds and whose first port nobody listens on; `ao
restore` takes the recorded block back when it is still free. Choosing runs under one
lock per config, so parallel spawns never pick the same block. The agent gets
``AO_PORT`` (first), ``AO_PORT_LAST`` and ``AO_PORTS`` (``first-last``).
"""

from __future__ import annotations

import socket
import typing as t

from ao.sdk.errors import ConflictError
from ao.sdk.home import ao_home
from ao.store.locks import locked
from ao.store.state import ENDED_STATUSES

if t.TYPE_CHECKING:
    from ao.config.sections import Ports
    from ao.session.context import Context, Project


def block_range(ports: Ports, block: int) -> tuple[int, int]:
    """First and last port of ``block``."""
    first = ports.base + block * ports.block_size
    return first, first + ports.block_size - 1


def environment(ports: Ports, block: int) -> dict[str, str]:
    """The variables a session's processes get for ``block``."""
    first, last = block_range(ports, block)
    return {"AO_PORT": str(first), "AO_PORT_LAST": str(last), "AO_PORTS": f"{first}-{last}"}


def listening(port: int) -> bool:
    """Whether something already holds ``port`` on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def assign(ctx: Context, project: Project, session_id: str) -> int:
    """The session's block: the one it recorded if no other live session holds it, else
    the lowest free one; recorded in the session's metadata."""

    ports = ctx.config.ports
    with locked(ao_home() / "locks" / f"ports-{project.paths.hash}.lock"):
        held = _held(ctx, session_id)
        mine = project.store.read(session_id).port_block
        if mine is not None and mine < ports.blocks and mine not in held:
            return mine
        for block in range(ports.blocks):
            if block not in held and not listening(block_range(ports, block)[0]):
                project.store.update(session_id, port_block=block)
                return block
    first, last = ports.base, block_range(ports, ports.blocks - 1)[1]
    raise ConflictError(
        f"all {ports.blocks} port blocks ({first}-{last}) are taken by live sessions or "
        "other programs",
        hint="stop sessions you no longer need, or raise `ports.blocks` in the config",
    )


def _held(ctx: Context, session_id: str) -> set[int]:
    held = set()
    for project in ctx.projects():
        for session in project.store.list():
            block = session.port_block
            # an ended session's processes are gone; `ao restore` takes the block back if free
            if (
                session.id != session_id
                and block is not None
                and session.status not in ENDED_STATUSES
            ):
                held.add(block)
    return held


def describe(ctx: Context, block: int | None) -> str | None:
    """``first-last`` for a recorded block, for status output."""
    if block is None:
        return None
    first, last = block_range(ctx.config.ports, block)
    return f"{first}-{last}"
