"""The scripted fake model for the agent tests: a re-export of ``ao.selftest.model``.

The server now ships with ao (``ao doctor --agents`` drives the installed CLIs against
it); the tests keep importing it from here. See ``ao/selftest/server.py`` for the step
vocabulary (``tool`` calls any tool, e.g. an MCP server's) and the per-conversation
scripts (``FakeModel.route(marker, *steps)``), and ``ao/selftest/model.py`` for the
Anthropic Messages and OpenAI Responses wire protocols.
"""

from __future__ import annotations

import sys
import time

from ao.selftest.model import FakeModel
from ao.selftest.server import (
    ANY_ROUTE,
    AUX_REPLY,
    DEFAULT_REPLY,
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    Request,
    Step,
    StepKind,
    auth_error,
    bad_request,
    busy,
    model_not_found,
    needs_permission,
    server_error,
    shell,
    text,
    tool,
    usage_limit,
    write_file,
)

__all__ = [
    "ANY_ROUTE", "AUX_REPLY", "DEFAULT_REPLY", "INPUT_TOKENS", "OUTPUT_TOKENS", "FakeModel",
    "Request", "Step", "StepKind", "auth_error", "bad_request", "busy", "model_not_found",
    "needs_permission", "server_error", "shell", "text", "tool", "usage_limit", "write_file",
]  # fmt: skip


def main() -> None:  # pragma: no cover - manual exploration helper
    """``python -m tests.agents.fakemodel [reply]``: serve one reply until interrupted."""
    fake = FakeModel([text(" ".join(sys.argv[1:]) or DEFAULT_REPLY)]).start()
    print(fake.url, flush=True)
    seen = 0
    try:
        while True:
            time.sleep(0.5)
            for req in fake.requests[seen:]:
                print(req.api, req.path, "turn", req.position, flush=True)
            seen = len(fake.requests)
    except KeyboardInterrupt:
        fake.close()


if __name__ == "__main__":  # pragma: no cover
    main()
