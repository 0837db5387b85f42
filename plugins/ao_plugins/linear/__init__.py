"""Linear (linear.app) as ao's issue tracker: ``tracker: linear``, ``trackerProject: ENG``."""

from ao_plugins.linear.client import LinearClient, LinearRateLimitError
from ao_plugins.linear.tracker import LinearTracker, identifier_of, issue_prompt, team_key

__all__ = [
    "LinearClient",
    "LinearRateLimitError",
    "LinearTracker",
    "identifier_of",
    "issue_prompt",
    "team_key",
]
