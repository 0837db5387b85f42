"""Deprecated alias of ``ao.sdk.proc``, kept for one release for third-party plugins."""

import warnings

from ao.sdk.proc import *  # noqa: F403

warnings.warn("ao.proc is deprecated: import ao.sdk.proc instead", DeprecationWarning, stacklevel=2)
