"""Branch-name validation and slugs (ao.sdk.gitref)."""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ao.sdk.errors import UsageError
from ao.sdk.gitref import MAX_BRANCH_BYTES, slugify, validate_branch


def git_accepts(name: str) -> bool:
    res = subprocess.run(
        ["git", "check-ref-format", "--branch", name], capture_output=True, timeout=10
    )
    return res.returncode == 0


VALID = [
    "main",
    "feat/fix-login",
    "ao/s1-add-tests",
    "release-1.2",
    "a_b",
    "user@host",
    "x" * MAX_BRANCH_BYTES,
    "$(touch${IFS}pwned)",  # odd but legal for git: harmless because no shell is ever used
    "ünïcode",
]


@pytest.mark.parametrize("name", VALID)
def test_valid_names_are_returned_unchanged(name: str) -> None:
    assert validate_branch(name) == name
    assert git_accepts(name)


INVALID = [
    ("", "empty"),
    ("-x", "starts with '-'"),
    ("--upload-pack=x", "starts with '-'"),
    ("a b", "whitespace"),
    ("a\tb", "whitespace"),
    ("a\nb", "whitespace"),
    ("a\u00a0b", "whitespace"),
    ("$(touch pwned)", "whitespace"),
    ("; rm -rf ~", "whitespace"),
    ("a\x1b[31mred", "control character"),
    ("a\x00b", "control character"),
    ("a\x7fb", "control character"),
    ("evil\u202egnp.exe", "control character"),
    ("a~1", "'~'"),
    ("a^b", "'^'"),
    ("a:b", "':'"),
    ("a?b", "'?'"),
    ("a*b", "'*'"),
    ("a[b", "'['"),
    ("a\\b", "'\\\\'"),
    ("a..b", "contains '..'"),
    ("a@{1}", "'@{'"),
    ("a/", "ends with '/'"),
    ("/a", "starts with '/'"),
    ("a//b", "'//'"),
    ("a.lock", "'.lock'"),
    ("a.lock/b", "'.lock'"),
    (".a", "starts with '.'"),
    ("a.", "ends with '.'"),
    ("a/.b", "component starting with '.'"),
    ("@", "reserved"),
    ("HEAD", "reserved"),
    ("x" * (MAX_BRANCH_BYTES + 1), "the limit is 200"),
    ("é" * 101, "202 bytes"),
]


@pytest.mark.parametrize(("name", "reason"), INVALID)
def test_invalid_names_raise_usage_error_naming_the_problem(name: str, reason: str) -> None:
    with pytest.raises(UsageError) as err:
        validate_branch(name)
    assert reason in str(err.value)


def test_message_quotes_the_name() -> None:
    with pytest.raises(UsageError, match=r"branch name 'a\.\.b' contains '\.\.'"):
        validate_branch("a..b")


def test_message_escapes_terminal_sequences() -> None:
    with pytest.raises(UsageError) as err:
        validate_branch("x\x1b[2J")
    assert "\x1b" not in str(err.value)
    assert "\\x1b" in str(err.value)


def test_message_truncates_long_names() -> None:
    with pytest.raises(UsageError) as err:
        validate_branch("y" * 5000)
    assert len(str(err.value)) < 300


_ODD = st.sampled_from(list("ab/.-_@{}~^:?*[\\ \t\x1b\x7fé$();|&'\"`")) | st.characters()


@settings(max_examples=300, deadline=None)
@given(st.text(_ODD, max_size=12))
def test_accepted_names_are_accepted_by_git(name: str) -> None:
    try:
        validate_branch(name)
    except UsageError:
        return
    assert git_accepts(name), name


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("Fix the login bug", "fix-the-login-bug"),
        ("  Café: crème brûlée!! ", "cafe-creme-brulee"),
        ("feat/add..things", "feat-add-things"),
        ("--leading and trailing--", "leading-and-trailing"),
        ("", "task"),
        ("!!!", "task"),
        ("日本語", "task"),
        ("$(touch pwned); rm -rf /", "touch-pwned-rm-rf"),
    ],
)
def test_slugify_examples(text: str, slug: str) -> None:
    assert slugify(text) == slug


def test_slugify_respects_max_len_without_trailing_dash() -> None:
    slug = slugify("aaaa bbbb cccc", max_len=5)
    assert slug == "aaaa"
    assert len(slugify("word " * 100)) <= 40


@settings(max_examples=500)
@given(st.text(), st.integers(min_value=-5, max_value=500))
def test_slugify_output_is_always_a_valid_branch(text: str, max_len: int) -> None:
    slug = slugify(text, max_len=max_len)
    assert validate_branch(slug) == slug
    assert slug == "task" or len(slug) <= max(1, max_len)
    assert slug.isascii()
    assert slug == slug.lower()
