"""Deprecated alias of ``ao.sdk.forge``, kept for one release for third-party plugins."""

import warnings

from ao.sdk.forge import *  # noqa: F403

warnings.warn(
    "ao.forge is deprecated: import ao.sdk.forge instead", DeprecationWarning, stacklevel=2
)
