"""GitLab plugins for ao: ``GitLabScm`` (merge requests, pipelines, merges) and ``GitLabTracker``.

Both talk to the REST API v4 directly over httpx with a token from ``$GITLAB_TOKEN`` /
``$GL_TOKEN`` (header ``PRIVATE-TOKEN``). They share the client in ``ao_plugins.gitlab.client``:
instance URL, ETag cache and a rate-limit budget persisted under
``$AO_HOME/cache/gitlab/``. See docs/gitlab.md.
"""

from __future__ import annotations

from ao.sdk.errors import AuthError, RateLimitError
from ao_plugins.gitlab.scm import GitLabScm
from ao_plugins.gitlab.tracker import GitLabTracker

__all__ = ["AuthError", "GitLabScm", "GitLabTracker", "RateLimitError"]
