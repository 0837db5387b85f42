"""The HTTP front-end: the dashboard's server and REST API (``ao dashboard``).

Like ``ao.cli``, a thin layer over ``ao.api.Orchestrator``: each route parses its input,
calls one method and renders the same JSON document the matching ``ao … --json`` prints
(the CLI's ``data``), and errors are the API's ``AoError``\\ s with the CLI's exit code.

- ``app``: the ASGI application (FastAPI): the page, routes, error documents, OpenAPI.
- ``static/``: the page (plain ES modules and CSS, no build step; vendored xterm.js).
- ``routes``: the REST routes; ``models``: their request bodies.
- ``security``: who may call what (the token, ``Host`` and ``Origin`` checks, body size).
- ``fleet``: the one shared poller behind every viewer's session list (the cards).
- ``stream``: the server-sent event stream (the event log and fleet snapshots).
- ``terminal``: the terminal websockets, one shared view of a session for all viewers.
- ``server``: binding, one server per config, uvicorn.
- ``client``: ``ao api``, a client of the running server.

Nothing here is imported by ``ao --help`` or the other commands: fastapi and uvicorn load
only for ``ao dashboard``, httpx only for ``ao api``. See docs/dashboard.md.
"""
