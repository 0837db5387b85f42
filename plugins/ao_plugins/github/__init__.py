"""GitHub plugins for ao: ``GitHubScm`` (pull requests, CI, merges) and ``GitHubTracker``.

Both talk to the REST and GraphQL APIs directly over httpx (no ``gh`` subprocess per
call; ``gh auth token`` is only a fallback source of the token). They share the client
in ``ao_plugins.github.client``: token discovery, GitHub Enterprise endpoints, ETag cache and a
rate-limit budget persisted under ``$AO_HOME/cache/github/``. See docs/github.md.
"""

from __future__ import annotations

from ao.sdk.errors import RateLimitError
from ao_plugins.github.scm import GitHubScm
from ao_plugins.github.tracker import GitHubTracker

__all__ = ["GitHubScm", "GitHubTracker", "RateLimitError"]
