"""ao's built-in plugins, one package per plugin, registered through the same entry
points as third-party plugins (see pyproject.toml). Each imports only ``ao.sdk``."""
