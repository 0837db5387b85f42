"""The application API: the one thing every front-end (CLI, HTTP, MCP) calls."""
