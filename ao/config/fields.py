"""Building blocks of the config models: the base model, commands, durations and sizes."""

from __future__ import annotations

import re
import shlex
import typing as t

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: str | int | float) -> float:
    """Seconds in ``90s``, ``30m``, ``1.5h``, ``1d`` (a bare number is seconds)."""
    if isinstance(value, bool):
        raise ValueError("a duration must be a number of seconds or a string like '30m'")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if not isinstance(value, str):
        raise ValueError("a duration must be a number of seconds or a string like '30m'")
    match = DURATION_RE.match(value)
    if not match:
        raise ValueError(
            f"invalid duration {value!r}: use a number with ms, s, m, h or d, e.g. '90s'"
        )
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


class Model(BaseModel):
    """Base: camelCase aliases, unknown keys are errors, values validated on assignment."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        validate_assignment=True,
        defer_build=True,
        field_title_generator=lambda name, info: info.alias or to_camel(name),
    )


Command = list[str]

JsonDict = dict[str, t.Any]
_STRING: JsonDict = {"type": "string"}
_ARGV: JsonDict = {"type": "array", "items": {"type": "string"}}
_DURATION: JsonDict = {"type": "string", "pattern": DURATION_RE.pattern}
SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.I)
_SIZE: JsonDict = {"type": "string", "pattern": SIZE_RE.pattern}
_SIZE_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
               "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}  # fmt: skip


def parse_size(value: str | int) -> int:
    """Bytes in ``512MB``, ``4GB``, ``2GiB`` (a bare integer is bytes)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("a size must be a number of bytes or a string like '4GB'")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return value
    match = SIZE_RE.match(value)
    if not match:
        raise ValueError(f"invalid size {value!r}: use a number with MB, GB, GiB…, e.g. '4GB'")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])


def _also(*alternatives: JsonDict) -> t.Callable[[JsonDict], None]:
    """Widen a field's JSON Schema to the extra shapes a ``mode="before"`` validator accepts."""

    def widen(schema: JsonDict) -> None:
        if "anyOf" not in schema:
            moved = {k: schema.pop(k) for k in ("type", "items", "$ref") if k in schema}
            schema["anyOf"] = [moved]
        options: list[t.Any] = schema["anyOf"]
        null = [o for o in options if o == {"type": "null"}]
        schema["anyOf"] = [o for o in options if o not in null] + list(alternatives) + null

    return widen


def _also_items(*alternatives: JsonDict) -> t.Callable[[JsonDict], None]:
    """Like ``_also`` but for the items of an array field."""

    def widen(schema: JsonDict) -> None:
        schema["items"] = {"anyOf": [schema["items"], *alternatives]}

    return widen


def _as_argv(value: t.Any) -> t.Any:
    """A command is an argv list; a string is split like a shell would, but never run by one."""
    if isinstance(value, str):
        return shlex.split(value)
    return value
