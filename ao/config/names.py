"""Names derived from config values; cheap to import (no pydantic)."""

from __future__ import annotations

import re


def default_prefix(name: str) -> str:
    """A short session prefix from a project name: initials of kebab/snake/Camel parts."""
    parts = [p for p in re.split(r"[-_.\s]+", name) if p]
    if len(parts) > 1:
        prefix = "".join(p[0] for p in parts)
    else:
        caps = re.findall(r"[A-Z]", name)
        prefix = "".join(caps) if len(caps) > 1 else name[:4]
    prefix = re.sub(r"[^a-z0-9_-]", "", prefix.lower()) or "s"
    return prefix if prefix[0].isalnum() else "s" + prefix
