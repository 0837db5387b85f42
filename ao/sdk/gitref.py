"""Git branch-name validation and slugs, shared by the core and the workspace plugin.

Pure Python on purpose: it runs on every spawn and must not cost a subprocess. The
rules are a superset of ``git check-ref-format --branch``: anything git would reject
is rejected here, plus whitespace, control/format characters and over-long names,
which git accepts but which break terminals, shells and filesystems.
"""

from __future__ import annotations

import re
import unicodedata

from ao.sdk.errors import UsageError

MAX_BRANCH_BYTES = 200

_FORBIDDEN_CHARS = "~^:?*[\\"


def _show(name: str) -> str:
    """``name`` quoted with control characters escaped, safe to print to a terminal."""
    return repr(name[:60] + ("…" if len(name) > 60 else ""))


def validate_branch(name: str) -> str:
    """Return ``name`` unchanged if it is a safe git branch name, else raise UsageError.

    The message names the offending part, e.g. ``branch name 'a..b' contains '..'``.
    """

    def bad(reason: str) -> UsageError:
        return UsageError(
            f"branch name {_show(name)} {reason}",
            hint="use letters, digits, '-', '_', '.' and '/' (e.g. feat/fix-login)",
        )

    if not name:
        raise UsageError("branch name is empty")
    size = len(name.encode("utf-8", errors="surrogatepass"))
    if size > MAX_BRANCH_BYTES:
        raise bad(f"is {size} bytes long; the limit is {MAX_BRANCH_BYTES}")
    for ch in name:
        category = unicodedata.category(ch)
        if ch.isspace() or category.startswith("Z"):
            raise bad("contains whitespace")
        if category.startswith("C"):
            # Cc (control, incl. ESC) and Cf (bidi overrides, zero-width) can rewrite
            # what a terminal shows; Cs/Co/Cn have no business in a ref name.
            raise bad(f"contains the control character {ch!r}")
        if ch in _FORBIDDEN_CHARS:
            raise bad(f"contains {ch!r}")
    if name.startswith("-"):
        raise bad("starts with '-'")
    if name in ("@", "HEAD"):
        raise bad("is reserved by git")
    if ".." in name:
        raise bad("contains '..'")
    if "@{" in name:
        raise bad("contains '@{'")
    if name.startswith("/"):
        raise bad("starts with '/'")
    if name.endswith("/"):
        raise bad("ends with '/'")
    if "//" in name:
        raise bad("contains an empty path component ('//')")
    if name.startswith("."):
        raise bad("starts with '.'")
    if name.endswith("."):
        raise bad("ends with '.'")
    for component in name.split("/"):
        if component.startswith("."):
            raise bad(f"has a component starting with '.' ({_show(component)})")
        if component.endswith(".lock"):
            raise bad("ends with '.lock'" if name.endswith(".lock") else "has a '.lock' component")
    return name


def slugify(text: str, max_len: int = 40) -> str:
    """A lowercase ASCII slug of ``text`` (words joined by '-') that is a valid branch name.

    Accents are folded (``Café`` → ``cafe``); anything else non-alphanumeric separates
    words. Returns ``"task"`` when nothing usable is left.
    """
    limit = max(1, min(max_len, MAX_BRANCH_BYTES))
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    slug = slug[:limit].rstrip("-")
    return slug or "task"
