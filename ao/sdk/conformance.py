"""Check a plugin against its slot's contract: what the registry and the tests ask.

``problems(slot, plugin)`` lists every way ``plugin`` (a class, or an instance) falls
short of ``SLOT_PROTOCOLS[slot]`` and of the optional capabilities it has
(``CAPABILITIES[slot]``): a wrong ``api_version``, a missing member, a method the core
could not call the way the Protocol says. Plugin authors run it in their own tests
(docs/plugins.md); ao runs it over every registered plugin (tests/test_plugin_contract.py).

Signatures are compared by shape, the way the core calls: positional parameters by
position (their names are free), keyword-only ones by name; a parameter the Protocol
lets the caller leave out must have a default; extra parameters need defaults. Types
are mypy's business: subclass the Protocols and it checks them.
"""

from __future__ import annotations

import functools
import inspect
import typing as t

from ao.sdk.contracts import API_VERSION, CAPABILITIES, SLOT_PROTOCOLS, SLOTS

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


@functools.cache
def members(protocol: type) -> tuple[str, ...]:
    """The members a Protocol declares (methods and attributes), its bases' included."""
    names: list[str] = []
    for base in reversed(protocol.__mro__):
        if base is object or base is t.Protocol or base is t.Generic:
            continue
        if not getattr(base, "_is_protocol", False):
            continue
        found = [n for n in base.__dict__ if not n.startswith("_") and callable(base.__dict__[n])]
        found += list(inspect.get_annotations(base))
        names += [n for n in found if not n.startswith("_") and n not in names]
    return tuple(names)


def missing_members(plugin: object, protocol: type) -> list[str]:
    """The members of ``protocol`` that ``plugin`` has not got, or has only as the stub it
    inherits from a Protocol it subclasses (which would do nothing and return None)."""
    return [n for n in members(protocol) if not hasattr(plugin, n) or _stub(plugin, n)]


def _stub(plugin: object, name: str) -> bool:
    """Whether ``name`` comes from a Protocol class's body (declared, never implemented)."""
    cls = plugin if isinstance(plugin, type) else type(plugin)
    if not isinstance(plugin, type) and name in getattr(plugin, "__dict__", {}):
        return False
    owner = next((c for c in cls.__mro__ if name in c.__dict__), None)
    return owner is not None and bool(owner.__dict__.get("_is_protocol", False))


def has_capability(plugin: object, capability: type) -> bool:
    """Whether ``plugin`` (class or instance) declares ``capability`` or has all its members.

    Attributes may be set in ``__init__``: for a class, only its methods count.
    """
    cls = plugin if isinstance(plugin, type) else type(plugin)
    if capability in cls.__mro__:
        return True
    return all(hasattr(plugin, n) for n in _checkable(plugin, capability))


def problems(slot: str, plugin: object) -> list[str]:
    """Every way ``plugin`` (a class or an instance) breaks the contract of ``slot``.

    An empty list means: the right API version, every member of the slot's Protocol
    present (attributes only checked on an instance), and every method of the slot and
    of each capability it has callable the way the Protocol says.
    """
    if slot not in SLOTS:
        return [f"unknown slot {slot!r} (slots: {', '.join(SLOTS)})"]
    found: list[str] = []
    version = getattr(plugin, "api_version", None)
    if version != API_VERSION:
        found.append(f"api_version is {version!r}, not {API_VERSION}")
    protocol = SLOT_PROTOCOLS[slot]
    found += _check(plugin, protocol)
    for capability in CAPABILITIES[slot]:
        if has_capability(plugin, capability):
            found += _check(plugin, capability)
        else:
            partial = [n for n in _checkable(plugin, capability) if hasattr(plugin, n)]
            if partial:
                missing = [n for n in members(capability) if not hasattr(plugin, n)]
                found.append(
                    f"{capability.__name__}: has {', '.join(partial)} but not {', '.join(missing)}"
                )
    return found


def capabilities(slot: str, plugin: object) -> list[str]:
    """The names of the optional capabilities of ``slot`` that ``plugin`` has."""
    return [c.__name__ for c in CAPABILITIES.get(slot, ()) if has_capability(plugin, c)]


# ----------------------------------------------------------------------------- helpers


def _checkable(plugin: object, protocol: type) -> list[str]:
    """Members checkable on ``plugin``: all of them on an instance, methods on a class."""
    if not isinstance(plugin, type):
        return list(members(protocol))
    return [n for n in members(protocol) if callable(getattr(protocol, n, None))]


def _check(plugin: object, protocol: type) -> list[str]:
    found = []
    label = protocol.__name__
    for name in members(protocol):
        expected = getattr(protocol, name, None)
        if not callable(expected):  # an attribute
            if not isinstance(plugin, type) and name in missing_members(plugin, protocol):
                found.append(f"{label}: no attribute {name!r}")
            continue
        actual = getattr(plugin, name, None)
        if actual is None or _stub(plugin, name):
            found.append(f"{label}: no method {name}()")
            continue
        if not callable(actual):
            found.append(f"{label}: {name} is not callable")
            continue
        found += [f"{label}.{name}: {p}" for p in _compare(plugin, name, expected, actual)]
    return found


def _signature(owner: object, name: str, func: t.Any, *, unbound: bool) -> inspect.Signature:
    sig = inspect.signature(func)
    if unbound and isinstance(owner, type):
        static = inspect.getattr_static(owner, name, None)
        if isinstance(static, staticmethod | classmethod):
            return sig
    if unbound:
        params = list(sig.parameters.values())[1:]  # self
        sig = sig.replace(parameters=params)
    return sig


def _compare(plugin: object, name: str, expected: t.Any, actual: t.Any) -> list[str]:
    """How ``actual`` cannot be called every way the Protocol's ``expected`` can."""
    try:
        want = _signature(None, name, expected, unbound=True)
        have = _signature(plugin, name, actual, unbound=isinstance(plugin, type))
    except (TypeError, ValueError):
        return []  # a builtin or C callable without a signature: nothing to compare
    want_params = list(want.parameters.values())
    have_params = list(have.parameters.values())
    have_pos = [p for p in have_params if p.kind in _POSITIONAL]
    var_pos = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in have_params)
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in have_params)
    found: list[str] = []
    used: set[str] = set()
    want_pos = [p for p in want_params if p.kind in _POSITIONAL]
    for i, param in enumerate(want_pos):
        if i < len(have_pos):
            used.add(have_pos[i].name)
            optional = param.default is not inspect.Parameter.empty
            if optional and have_pos[i].default is inspect.Parameter.empty:
                found.append(f"parameter {have_pos[i].name!r} needs a default (like {param})")
        elif not var_pos:
            found.append(f"takes no positional parameter {i + 1} ({param})")
    for param in want_params:
        if param.kind is not inspect.Parameter.KEYWORD_ONLY:
            continue
        match = have.parameters.get(param.name)
        if match is None or match.kind not in (
            inspect.Parameter.KEYWORD_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            if not var_kw:
                found.append(f"takes no keyword parameter {param.name!r}")
            continue
        used.add(param.name)
        if (
            param.default is not inspect.Parameter.empty
            and match.default is inspect.Parameter.empty
        ):
            found.append(f"keyword parameter {param.name!r} needs a default")
    for param in have_params:
        if param.name in used or param.kind in (
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
        ):
            continue
        if param.default is inspect.Parameter.empty:
            found.append(f"extra parameter {param.name!r} needs a default")
    return found
