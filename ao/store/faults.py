"""Named crash points for the fault-injection suite.

``point("spawn.workspace")`` kills the process with SIGKILL when ``AO_FAULT`` names that
step, so a test can stop ``ao`` at exactly one step of a multi-step operation (no random
sleeps) and then check that ``ao gc`` and the next command repair what was left. Unset,
a point costs one environment lookup.
"""

from __future__ import annotations

import os
import signal


def point(name: str) -> None:
    """Die here, as ``kill -9`` would, when ``$AO_FAULT`` is ``name``."""
    if os.environ.get("AO_FAULT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
