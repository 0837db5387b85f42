"""Hostile YAML is one line of error, quickly (issue 8, item 13).

Each reproduction from the issue is refused with a ``ConfigError`` (exit 3) whose single
line names the file (and the line, where there is one), before the YAML is built; and
generated garbage either loads or is a ``ConfigError``, never another exception.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ao.config import InvalidConfigError, LoadedConfig, load_config
from ao.config.loader import MAX_CONFIG_BYTES, MAX_DEPTH, MAX_VALUES
from ao.sdk.errors import ConfigError
from tests.conftest import RunAo

VALID_TOP = "projects: {}\n"

CASES: dict[str, tuple[bytes, str]] = {
    # name: (file content, what the one-line error says)
    "self-referencing alias": (b"x: &x [*x]\n", "alias *x is inside the collection &x"),
    "alias inside a mapping it names": (b"a: &a {b: *a}\n", "alias *a is inside"),
    "5,000 nested brackets": (b"x: " + b"[" * 5000 + b"]" * 5000 + b"\n", "invalid YAML"),
    "nested flow mappings": (b"x: " + b"{a: " * 300 + b"1" + b"}" * 300 + b"\n", "nested"),
    "3,000 nested block sequences": (b"x:\n" + b"- " * 3000 + b"a\n", "nested more than"),
    "a NUL in a string": (VALID_TOP.encode() + b'x: "a\x00b"\n', "#x0000 is not allowed"),
    "an escape character": (VALID_TOP.encode() + b"x: a\x1bb\n", "#x001b is not allowed"),
    "comments past the size cap": (
        VALID_TOP.encode() + b"# padding padding padding padding padding\n" * 40_000,
        f"at most {MAX_CONFIG_BYTES} bytes",
    ),
    "400k keys": (
        VALID_TOP.encode()
        + b"plugins:\n  p:\n"
        + b"".join(b"    k%d: 1\n" % i for i in range(400_000)),
        f"at most {MAX_CONFIG_BYTES} bytes",
    ),
    "more values than the cap": (
        VALID_TOP.encode() + b"plugins: {p: {k: [" + b"1," * (MAX_VALUES + 10) + b"1]}}\n",
        f"the file has more than {MAX_VALUES} values",
    ),
    "billion laughs": (
        VALID_TOP.encode()
        + b"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + b"".join(
            b"%s: &%s [%s]\n" % (n, n, b", ".join([b"*" + p] * 10))
            for p, n in [(b"a", b"b"), (b"b", b"c"), (b"c", b"d"), (b"d", b"e"), (b"e", b"f")]
        ),
        "expands (via YAML aliases) to more than",
    ),
    "not UTF-8": (VALID_TOP.encode() + b"x: \xff\xfe\n", "is not UTF-8"),
    "an integer of 5,000 digits": (
        VALID_TOP.encode() + b"x: " + b"9" * 5000 + b"\n",
        "cannot read",
    ),
    "an impossible date": (VALID_TOP.encode() + b"x: 2020-13-45\n", "cannot read this value"),
    "a python tag": (VALID_TOP.encode() + b"x: !!python/object:os.system {}\n", "invalid YAML"),
    "a syntax error": (b"projects:\n  app:\n    path: x\n   bad: 1\n", "invalid YAML"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_config_is_one_quick_config_error(tmp_path: Path, name: str) -> None:
    content, says = CASES[name]
    cfg = tmp_path / "agent-orchestrator.yaml"
    cfg.write_bytes(content)
    start = time.monotonic()
    with pytest.raises(InvalidConfigError) as info:
        load_config(cfg)
    took = time.monotonic() - start
    problem = info.value.problems[0]
    assert problem.startswith(str(cfg)), problem
    assert says in problem, problem
    assert "\n" not in str(info.value)
    assert took < 5, f"{name}: {took:.1f}s"  # each is well under a second; loose for CI


@pytest.mark.parametrize("name", ["self-referencing alias", "a NUL in a string", "400k keys"])
def test_hostile_config_is_exit_3_with_one_line(tmp_path: Path, ao: RunAo, name: str) -> None:
    content, says = CASES[name]
    (tmp_path / "agent-orchestrator.yaml").write_bytes(content)
    result = ao("list", cwd=tmp_path, timeout=30)
    assert result.returncode == 3
    (line,) = result.stderr.splitlines()
    assert line.startswith("ao: error: ") and says in line, line


def test_a_control_character_is_reported_at_its_line_and_column(tmp_path: Path) -> None:
    cfg = tmp_path / "agent-orchestrator.yaml"
    cfg.write_text(VALID_TOP + "x: " + "é😀" * 20 + "\n" + 'y: "a\x00"\nz: 1\n')
    with pytest.raises(InvalidConfigError) as info:
        load_config(cfg)
    assert info.value.problems[0].startswith(f"{cfg}:3:6: invalid YAML: character #x0000")


def test_nesting_up_to_the_limit_still_loads(tmp_path: Path) -> None:
    depth = MAX_DEPTH - 4  # projects / plugins / p / k take the first levels
    cfg = tmp_path / "agent-orchestrator.yaml"
    cfg.write_text(VALID_TOP + "plugins: {p: {k: " + "[" * depth + "1" + "]" * depth + "}}\n")
    assert load_config(cfg).model.plugins["p"]["k"] is not None


def test_aliases_that_do_not_recurse_still_load(tmp_path: Path) -> None:
    cfg = tmp_path / "agent-orchestrator.yaml"
    cfg.write_text(
        "projects:\n  a: &a {path: ., defaultBranch: dev, sessionPrefix: a}\n"
        "  b: {<<: *a, sessionPrefix: b}\n"
        "plugins: {p: {x: &x [1, 2], y: [*x, *x]}}\n"
    )
    model = load_config(cfg).model
    assert model.projects["b"].default_branch == "dev" and model.projects["b"].session_prefix == "b"
    assert model.plugins["p"]["y"] == [[1, 2], [1, 2]]


# ----------------------------------------------------------------------- generated garbage

FRAGMENTS = [
    "[", "]", "{", "}", ": ", ":", "- ", "-", "\n", "  ", "    ", "\t", ", ", "? ", "'", '"',
    "&a ", "&b ", "*a", "*b", "<<: *a", "<<: ", "!!str ", "!!map ", "!!binary ", "!foo ",
    "!!python/object:os.system ", "%YAML 1.1\n", "%TAG ! x\n", "---\n", "...\n", "|\n", ">-\n",
    "# c\n", "projects", "path", "plugins", "defaults", "port", "x", "1", "-1", "1e999", ".nan",
    "2020-13-45", "2001-12-14t21:59:43.10-05:00", "0x" + "f" * 12, "9" * 40, "~", "null",
    "true", "\\0", "\\x00", "\x00", "\x07", "\x1b", "\ufeff", "\u2028", "\ud7ff", "é", "${X}",
    "${", "$${", "${HOME}", "=", "@", "`", "%", "|", ">",
]  # fmt: skip


def check(text: str | bytes, directory: Path) -> None:
    """Loading ``text`` is a ``LoadedConfig`` or a ``ConfigError``, never anything else."""
    cfg = directory / "agent-orchestrator.yaml"
    if isinstance(text, str):
        text = text.encode("utf-8", "surrogatepass")
    cfg.write_bytes(text)
    try:
        loaded = load_config(cfg)
    except ConfigError as exc:
        assert "\n" not in exc.message
    else:
        assert isinstance(loaded, LoadedConfig)


garbage = st.lists(st.sampled_from(FRAGMENTS), max_size=60).map("".join)
SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(text=garbage, prefix=st.sampled_from(["", VALID_TOP, "projects:\n  p: {path: .}\n"]))
def test_generated_yaml_loads_or_is_a_config_error(
    tmp_path_factory: pytest.TempPathFactory, text: str, prefix: str
) -> None:
    check(prefix + text, tmp_path_factory.mktemp("y", numbered=True))


@SETTINGS
@given(data=st.binary(max_size=200))
def test_random_bytes_load_or_are_a_config_error(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    check(data, tmp_path_factory.mktemp("b", numbered=True))


@SETTINGS
@given(depth=st.integers(1, 400), opener=st.sampled_from(["[", "{a: ", "- ", "{", "? "]))
def test_generated_nesting_loads_or_is_a_config_error(
    tmp_path_factory: pytest.TempPathFactory, depth: int, opener: str
) -> None:
    closer = {"[": "]", "{a: ": "}", "{": "}"}.get(opener, "")
    sep = "\n" + " " * 2 if opener == "- " else ""
    text = VALID_TOP + "x: " + sep + opener * depth + "1" + closer * depth + "\n"
    check(text, tmp_path_factory.mktemp("n", numbered=True))
