"""ao: orchestrate fleets of AI coding agents in tmux sessions and git worktrees."""

__version__ = "0.2.0"
