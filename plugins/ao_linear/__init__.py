"""Linear (linear.app) as ao's issue tracker: ``tracker: linear``, ``trackerProject: ENG``."""

from ao_linear.client import LinearClient, LinearRateLimitError
from ao_linear.tracker import LinearTracker, identifier_of, issue_prompt, team_key

__all__ = [
    "LinearClient",
    "LinearRateLimitError",
    "LinearTracker",
    "identifier_of",
    "issue_prompt",
    "team_key",
]
