"""Self-test of the installed agent CLIs against a scripted local model (``ao doctor --agents``).

- ``server``: the step vocabulary and the shared threaded HTTP server;
- ``model``: Anthropic Messages + OpenAI Responses (Claude Code, Codex);
- ``chat``: OpenAI Chat Completions (OpenCode, Aider, Pi);
- ``gemini``: the Gemini API (Gemini CLI);
- ``combined``: one server that speaks all of them (what the doctor starts);
- ``run``: the doctor's run (scratch repo, a private runtime, the real ``ao`` CLI).

Nothing here is imported by the CLI at start-up; ``ao doctor --agents`` imports it lazily.
"""
