"""Deprecated alias of ``ao.sdk.textsafe``, kept for one release for third-party plugins."""

import warnings

from ao.sdk.textsafe import *  # noqa: F403

warnings.warn(
    "ao.textsafe is deprecated: import ao.sdk.textsafe instead", DeprecationWarning, stacklevel=2
)
