"""What the command modules share: the application API for this invocation."""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:
    from ao.api import Orchestrator


def orchestrator() -> Orchestrator:
    """The application API over the config the CLI's lookup finds from the current
    directory (``--config`` sets ``$AO_CONFIG``); the config is read on first use."""
    from ao.api import Orchestrator  # lazy: `ao --help` never imports the API

    return Orchestrator()
