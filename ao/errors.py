"""Deprecated alias of ``ao.sdk.errors``, kept for one release for third-party plugins."""

import warnings

from ao.sdk.errors import *  # noqa: F403

warnings.warn(
    "ao.errors is deprecated: import ao.sdk.errors instead", DeprecationWarning, stacklevel=2
)
