"""The MCP front-end (``ao mcp``): ao's application API as tools and resources for MCP
clients (Claude Code, Codex, Gemini CLI...) over stdio. See docs/delegation.md.

Importing this package is cheap; the MCP SDK loads with ``ao.mcp.server``.
"""
