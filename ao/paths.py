"""Deprecated alias: ``ao_home`` is ``ao.sdk.home.ao_home`` (for one release, for plugins)."""

import warnings

from ao.sdk.home import *  # noqa: F403
from ao.store.paths import ProjectPaths, config_hash  # noqa: F401

warnings.warn(
    "ao.paths is deprecated: import ao.sdk.home instead", DeprecationWarning, stacklevel=2
)
