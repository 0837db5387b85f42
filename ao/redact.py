"""Deprecated alias of ``ao.sdk.redact``, kept for one release for third-party plugins."""

import warnings

from ao.sdk.redact import *  # noqa: F403

warnings.warn(
    "ao.redact is deprecated: import ao.sdk.redact instead", DeprecationWarning, stacklevel=2
)
