"""Generated names and values against every check that guards a file name, a tmux target
or a record line (hypothesis). A name is either refused with a UsageError or is safe as a
file name in ``sessions/`` and as part of a tmux target; any value round-trips through a
record; a record file never yields a key outside the key grammar."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ao.sdk.errors import UsageError
from ao.sdk.gitref import validate_branch
from ao.store import kvfile
from ao.store.state import SESSION_ID_RE, validate_session_id

# names people and scripts actually pass, plus the characters that break things
hostile = st.text(
    alphabet=st.sampled_from(
        string.ascii_letters
        + string.digits
        + "-_./\\:;=*?[]{}~^@ \t\n\r\x00\x1b'\"$`!#%&|<>"
        + "é中\u202e\u200b"
    ),
    max_size=80,
)


@settings(max_examples=400, deadline=None)
@given(hostile)
def test_a_session_name_is_refused_or_safe(name: str) -> None:
    try:
        accepted = validate_session_id(name)
    except UsageError:
        return
    assert accepted == name
    assert re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", name)
    assert "/" not in name and "\n" not in name and not name.startswith(".")
    assert ":" not in name and "." not in name  # tmux target separators


@settings(max_examples=400, deadline=None)
@given(hostile)
def test_a_branch_name_is_refused_or_a_plain_ref(name: str) -> None:
    try:
        validate_branch(name)
    except UsageError:
        return
    assert name == name.strip() and "\n" not in name and "\x00" not in name
    assert not name.startswith("-") and ".." not in name and " " not in name


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.from_regex(kvfile.KEY_RE, fullmatch=True), st.text(), max_size=8))
def test_any_value_round_trips_through_a_record(data: dict[str, str]) -> None:
    assert kvfile.loads(kvfile.dumps(data)) == data


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_a_record_file_never_yields_a_bad_key(text: str) -> None:
    for key in kvfile.loads(text):
        assert kvfile.KEY_RE.fullmatch(key)


@pytest.mark.parametrize("name", ["ok\n", "ok\r", "ok\x00", "ok/..", ".hidden", "Upper"])
def test_known_bad_names_are_refused(name: str) -> None:
    with pytest.raises(UsageError):
        validate_session_id(name)
    assert not SESSION_ID_RE.fullmatch(name)
