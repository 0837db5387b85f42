"""Operations on sessions: the context (config + plugins), spawn, delivery, send, logs,
stop, restore, gc, port blocks, project setup. Imports config, store and SDK."""
