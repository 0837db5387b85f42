"""Deprecated alias of ``ao.sdk.agentkit``, kept for one release for third-party plugins."""

import warnings

from ao.sdk.agentkit import *  # noqa: F403

warnings.warn(
    "ao.agentkit is deprecated: import ao.sdk.agentkit instead", DeprecationWarning, stacklevel=2
)
