"""Deprecated alias of ``ao.sdk.httpcache``, kept for one release for third-party plugins."""

import warnings

from ao.sdk.httpcache import *  # noqa: F403

warnings.warn(
    "ao.httpcache is deprecated: import ao.sdk.httpcache instead", DeprecationWarning, stacklevel=2
)
