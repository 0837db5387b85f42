"""The plugin SDK: everything a plugin may import from ao, and nothing else.

``contracts`` (the slot Protocols, the optional capabilities and their data types),
``conformance`` (checks a plugin against its slot's contract), ``errors`` (the one error tree),
``proc`` (subprocesses: argv lists, timeouts), ``gitref`` (branch names), ``textsafe``
(control characters out of untrusted text), ``redact`` (secrets out of messages),
``home`` (``$AO_HOME`` and private directories), ``agent`` (``AgentBase``, the base class
of agent adapters) and ``agentkit`` (their helpers), ``forge`` and ``httpcache`` (the
HTTP client and cache of forge plugins).
Modules here import only each other; the rest of ao builds on them.
"""
