"""Workspaces: publish a session's work (commit, push, pull request) and merge it."""

from __future__ import annotations

import typing as t

from ao.api.base import Base
from ao.sdk.errors import UsageError

if t.TYPE_CHECKING:
    from ao.api.outcomes import Merged, Published


class Workspaces(Base):
    """What leaves a session's worktree: commits, pushes, pull requests."""

    def finalize(
        self,
        session_id: str,
        *,
        project: str | None = None,
        pr: bool = False,
        title: str | None = None,
        body: str | None = None,
        draft: bool = False,
    ) -> Published:
        """Commit what the agent left in the worktree (never the files ao copied or
        symlinked into it), push the branch to ``origin`` and, with ``pr``, open the pull
        request (``title``: default the issue's; ``body``: default ``Closes #N``).
        UsageError when the branch has no commits beyond its base."""
        # lazy: only this method needs these, so `ao list` stays light
        from ao.api.outcomes import Published
        from ao.session.publish import finalize  # lazy: see ao.api.base

        proj, session = self._session(session_id, project)
        r = finalize(self.context, proj, session, pr=pr, title=title, body=body, draft=draft)
        return Published(r.session_id, r.branch, r.committed, r.commits, r.pr_url, r.pr_number)

    def merge(
        self, session_id: str, *, project: str | None = None, strategy: str = "squash"
    ) -> Merged:
        """Merge the session's open pull request (``merge``, ``squash`` or ``rebase``) at the
        head commit last seen; the code host then deletes the branch."""
        # lazy: only this method needs these, so `ao list` stays light
        from ao.api.outcomes import Merged
        from ao.session.publish import STRATEGIES, merge  # lazy: see ao.api.base

        if strategy not in STRATEGIES:
            raise UsageError(f"unknown strategy {strategy!r}", hint="merge, squash or rebase")
        proj, session = self._session(session_id, project)
        r = merge(self.context, proj, session, strategy)
        return Merged(r.session_id, r.url, r.number, r.strategy)
