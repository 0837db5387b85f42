"""The plugin SDK: everything a plugin may import from ao, and nothing else.

``contracts`` (the slot Protocols and their data types), ``errors`` (the one error tree),
``proc`` (subprocesses: argv lists, timeouts), ``gitref`` (branch names), ``textsafe``
(control characters out of untrusted text), ``redact`` (secrets out of messages),
``home`` (``$AO_HOME`` and private directories), ``agentkit`` (what agent adapters
share), ``forge`` and ``httpcache`` (the HTTP client and cache of forge plugins).
Modules here import only each other; the rest of ao builds on them.
"""
