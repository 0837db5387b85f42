"""Deprecated alias of ``ao.sdk.gitref``, kept for one release for third-party plugins."""

import warnings

from ao.sdk.gitref import *  # noqa: F403

warnings.warn(
    "ao.gitref is deprecated: import ao.sdk.gitref instead", DeprecationWarning, stacklevel=2
)
