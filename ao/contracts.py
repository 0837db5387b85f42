"""Deprecated alias of ``ao.sdk.contracts``, kept for one release for third-party plugins."""

import warnings

from ao.sdk.contracts import *  # noqa: F403

warnings.warn(
    "ao.contracts is deprecated: import ao.sdk.contracts instead", DeprecationWarning, stacklevel=2
)
