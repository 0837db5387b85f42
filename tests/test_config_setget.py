"""``ao config get|set|unset KEY``: one value by its dotted key, through the real CLI and
the API, on real files; edits keep every other byte of the file."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import RunAo

from ao.api import Orchestrator
from ao.sdk.errors import ConfigError, NotFoundError, UsageError

TEXT = """\
# my config: hand-written, keep the comments
port: 3000   # the dashboard's port

defaults:
  agent: auto  # pick one
  runtime: tmux

projects:
  app:
    path: .
    # the branch sessions start from
    defaultBranch: main
    postCreate:
      - make   # build first
      - echo hi
    symlinks:
      - .env
  other:
    path: ./other
    env: {A: "1"}

# the end
"""


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = tmp_path / "agent-orchestrator.yaml"
    path.write_text(TEXT, encoding="utf-8")
    return path


def api(cfg: Path) -> Orchestrator:
    return Orchestrator(cwd=cfg.parent, config=cfg)


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    """The lines only ``before`` has and those only ``after`` has (in order)."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    return [x for x in old if x not in new], [x for x in new if x not in old]


def test_get_set_unset_and_default_through_the_cli(ao: RunAo, cfg: Path) -> None:
    res = ao("config", "get", "defaults.agent", cwd=cfg.parent)
    assert (res.returncode, res.stdout, res.stderr) == (0, "auto\n", "")

    res = ao("config", "get", "defaults.agentStrategy", cwd=cfg.parent)
    assert (res.returncode, res.stdout) == (0, "heuristic\n")
    assert (
        res.stderr
        == "ao: note: defaults.agentStrategy is not set in the file; this is its default\n"
    )

    res = ao("config", "set", "defaults.agent", "codex", cwd=cfg.parent)
    assert (res.returncode, res.stdout, res.stderr) == (0, "defaults.agent: auto → codex\n", "")
    assert ao("config", "get", "defaults.agent", cwd=cfg.parent).stdout == "codex\n"
    res = ao("config", "set", "defaults.agent", "codex", cwd=cfg.parent)
    assert res.stdout == "defaults.agent: codex (unchanged)\n"

    res = ao("config", "unset", "defaults.agent", cwd=cfg.parent)
    assert res.stdout == "defaults.agent: removed; the default applies: auto\n"
    res = ao("config", "get", "defaults.agent", cwd=cfg.parent)
    assert res.stdout == "auto\n" and "its default" in res.stderr
    assert "agent:" not in cfg.read_text().split("defaults:")[1].split("projects:")[0]

    # a project inherits the defaults; a mapping prints as YAML
    res = ao("config", "get", "projects.app.agent", cwd=cfg.parent)
    assert res.stdout == "auto\n" and "its default" in res.stderr
    res = ao("config", "get", "projects.other", cwd=cfg.parent)
    assert res.returncode == 0
    assert f"path: {(cfg.parent / 'other').resolve()}\n" in res.stdout
    assert "env:\n  A: '1'\n" in res.stdout


def test_get_json_contract(ao: RunAo, cfg: Path) -> None:
    res = ao("config", "get", "projects.app.max_sessions", "--json", cwd=cfg.parent)
    assert json.loads(res.stdout) == {
        "v": 1,
        "data": {"key": "projects.app.maxSessions", "value": None, "default": True},
    }
    res = ao("config", "get", "projects.app.symlinks", "--json", cwd=cfg.parent)
    assert json.loads(res.stdout)["data"] == {
        "key": "projects.app.symlinks",
        "value": [".env"],
        "default": False,
    }
    assert res.stderr == ""
    res = ao("config", "set", "port", "4000", "--json", cwd=cfg.parent)
    assert json.loads(res.stdout) == {
        "v": 1,
        "data": {"config": str(cfg.resolve()), "key": "port", "old": 3000, "new": 4000,
                 "changed": True},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("key", "value", "written", "effective"),
    [
        ("dashboard.enabled", "false", "dashboard:\n  enabled: false\n", False),
        ("power.prevent_idle_sleep", "true", "power:\n  preventIdleSleep: true\n", True),
        ("projects.app.maxSessions", "3", "    maxSessions: 3\n", 3),
        ("tasks.verifyTimeout", "30m", "tasks:\n  verifyTimeout: 30m\n", 1800.0),
        ("reactions.agent-stuck.threshold", "10m",
         "reactions:\n  agent-stuck:\n    threshold: 10m\n", 600.0),
        ("defaults.agentStrategy", "fixed", "  agentStrategy: fixed\n", "fixed"),
        ("projects.app.permissions", "bypass", "    permissions: bypass\n", "bypass"),
        ("projects.app.symlinks", "[.env, data]", "    symlinks: [.env, data]\n", [".env", "data"]),
        ("projects.app.copy", '[".env.local"]', "    copy: [.env.local]\n", [".env.local"]),
        ("projects.app.model", "1.5", "    model: '1.5'\n", "1.5"),
        ("projects.other.env.B", "two words", "    env: {A: \"1\", B: two words}\n",
         "two words"),
        ("agents.codex.model", "o3", "agents:\n  codex:\n    model: o3\n", "o3"),
        ("notifiers.desk", "{plugin: desktop}", "notifiers:\n  desk: {plugin: desktop}\n",
         {"plugin": "desktop"}),
        ("plugins.gitlab.url", "https://gl.example.com",
         "plugins:\n  gitlab:\n    url: https://gl.example.com\n", "https://gl.example.com"),
        ("projects.new", "{path: ./new}", "  new: {path: ./new}\n", None),
    ],
)  # fmt: skip
def test_set_each_type_changes_only_its_lines(
    cfg: Path, key: str, value: str, written: str, effective: object
) -> None:
    change = api(cfg).config_set(key, value)
    after = cfg.read_text()
    assert written in after
    removed, added = changed_lines(TEXT, after)
    # every other line is kept, byte for byte and in order
    kept = [line for line in TEXT.splitlines(keepends=True) if line not in removed]
    assert [line for line in after.splitlines(keepends=True) if line not in added] == kept
    assert len(removed) <= 2  # a block list replaced whole: its key and item lines
    assert change.changed and change.key == key.replace("prevent_idle_sleep", "preventIdleSleep")
    got = api(cfg).config_get(key)
    if effective is not None:
        assert got.value == effective == change.new
    assert not got.default


def test_a_replaced_value_keeps_the_rest_of_its_line(cfg: Path) -> None:
    api(cfg).config_set("defaults.agent", "claude-code")
    api(cfg).config_set("port", 8080)  # the API takes typed values as they are
    assert cfg.read_text() == TEXT.replace("agent: auto  #", "agent: claude-code  #").replace(
        "port: 3000   #", "port: 8080   #"
    )
    # a block list replaced whole; the next key stays
    api(cfg).config_set("projects.app.postCreate", "[make]")
    assert "    postCreate: [make]\n    symlinks:\n      - .env\n" in cfg.read_text()


def test_unset_removes_the_key_and_an_emptied_mapping_stays_valid(cfg: Path) -> None:
    api(cfg).config_unset("projects.app.defaultBranch")
    text = cfg.read_text()
    assert text == TEXT.replace("    defaultBranch: main\n", "")
    api(cfg).config_unset("projects.other.env.A")
    assert "    env: {}\n" in cfg.read_text()
    api(cfg).config_unset("defaults.agent")
    api(cfg).config_unset("defaults.runtime")
    assert "defaults: {}\n\nprojects:" in cfg.read_text()
    before = cfg.read_text()
    change = api(cfg).config_unset("defaults.runtime")  # not set: nothing written
    assert not change.changed and cfg.read_text() == before
    assert api(cfg).config_get("defaults.runtime").to_json() == {
        "key": "defaults.runtime",
        "value": "tmux",
        "default": True,
    }


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("projects.app.permissions", "bogus",
         "invalid value for projects.app.permissions: expected 'default', 'accept-edits', "
         "'auto' or 'bypass'; got 'bogus'"),
        ("port", "abc", "invalid value for port: expected a valid integer"),
        ("port", "99999", "invalid value for port: expected less than or equal to 65535; got 99999"),
        ("dashboard.enabled", "maybe", "invalid value for dashboard.enabled: expected a valid boolean"),
        ("tasks.verifyTimeout", "soon", "invalid value for tasks.verifyTimeout: invalid duration 'soon'"),
        ("defaults.notifiers", "[nope]", "invalid value for defaults.notifiers: defaults.notifiers[0]: unknown notifier 'nope'"),
        ("projects.app.symlinks", "[../out]", "invalid value for projects.app.symlinks: '../out' must be a path inside"),
        ("reactions.ci-faild.auto", "false", "did you mean 'ci-failed'?"),
    ],
)  # fmt: skip
def test_an_invalid_value_names_the_key_and_writes_nothing(
    ao: RunAo, cfg: Path, key: str, value: str, message: str
) -> None:
    res = ao("config", "set", key, value, cwd=cfg.parent)
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("ao: error: ") and message in res.stderr
    assert res.stderr.rstrip().endswith("— the file was not changed")
    assert res.stdout == ""
    assert cfg.read_text() == TEXT


def test_an_unknown_key_suggests_the_close_ones(ao: RunAo, cfg: Path) -> None:
    res = ao("config", "set", "defaults.agnt", "codex", cwd=cfg.parent)
    assert res.returncode == 2
    assert res.stderr.startswith(
        "ao: error: unknown key 'defaults.agnt'; did you mean 'defaults.agent'? — keys of "
        "defaults: runtime, agent, agentStrategy,"
    )
    for key, message in (
        ("prot", "did you mean 'port'?"),
        ("projects.app.defaultbranch", "did you mean 'projects.app.defaultBranch'?"),
        ("projects.app.postCreate.0", "projects.app.postCreate is a list: set it whole"),
        ("defaults.agent.x", "defaults.agent is not a mapping"),
        ("defaults..agent", "invalid key 'defaults..agent'"),
    ):
        with pytest.raises(UsageError, match=re.escape(message)):
            api(cfg).config_get(key)
        with pytest.raises(UsageError, match=re.escape(message)):
            api(cfg).config_unset(key)
    # a project that does not exist is not found (4), with the close ids
    res = ao("config", "get", "projects.ap.agent", cwd=cfg.parent)
    assert res.returncode == 4 and "no project 'ap'" in res.stderr and "'app'" in res.stderr
    with pytest.raises(NotFoundError, match="no project 'ap'"):
        api(cfg).config_set("projects.ap.agent", "codex")
    assert cfg.read_text() == TEXT


def test_other_problems_of_the_file_are_config_errors(cfg: Path) -> None:
    broken = TEXT.replace("port: 3000", "port: abc")
    cfg.write_text(broken)
    with pytest.raises(ConfigError, match=r"the config would not validate:.*port") as info:
        api(cfg).config_set("defaults.agent", "codex")
    assert info.value.exit_code == 3
    assert cfg.read_text() == broken
    api(cfg).config_set("port", "3001")  # fixing the problem is allowed
    assert cfg.read_text() == TEXT.replace("port: 3000", "port: 3001")
    with pytest.raises(UsageError):
        api(cfg).config_set("port", "")
    with pytest.raises(NotFoundError):
        api(cfg).config_get("projects.nope")


def test_crlf_and_missing_final_newline(cfg: Path) -> None:
    cfg.write_bytes(b"projects:\r\n  app:\r\n    path: .\r\n")
    api(cfg).config_set("projects.app.model", "o3")
    api(cfg).config_set("tmux.socket", "ao")
    assert cfg.read_bytes() == (
        b"projects:\r\n  app:\r\n    path: .\r\n    model: o3\r\ntmux:\r\n  socket: ao\r\n"
    )
    cfg.write_bytes(b"defaults:\nprojects: {app: {path: .}}")  # `defaults:` is null
    api(cfg).config_set("defaults.agent", "codex")
    api(cfg).config_set("projects.app.agent", "codex")
    assert cfg.read_text() == (
        "defaults:\n  agent: codex\nprojects: {app: {path: ., agent: codex}}\n"
    )


def test_concurrent_sets_of_two_keys_both_land(cfg: Path) -> None:
    """Each writer re-reads the file under the config lock: neither change is lost."""
    pairs = [(f"agents.a{i}.model", f"m{i}") for i in range(6)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "ao", "config", "set", key, value],
            cwd=cfg.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for key, value in pairs
    ]  # fmt: skip
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    for key, value in pairs:
        assert api(cfg).config_get(key).value == value
    lines = iter(cfg.read_text().splitlines())
    assert all(line in lines for line in TEXT.splitlines())  # every line kept, in order


def test_no_config_is_a_config_error(ao: RunAo, tmp_path: Path) -> None:
    res = ao("config", "set", "port", "4000", cwd=tmp_path)
    assert res.returncode == 3 and "no config to change" in res.stderr
    res = ao("config", "get", "port", cwd=tmp_path)
    assert res.returncode == 3 and "no agent-orchestrator.yaml found" in res.stderr


def test_event_type_keys_keep_their_dot(ao: RunAo, cfg: Path) -> None:
    """`notificationRouting.ci.failing` is the key `ci.failing` of notificationRouting (its
    values are lists), `reactions.ci.failing.auto` the `auto` of reaction `ci.failing`; a
    misspelt event type is refused with the right spelling, and nothing is written."""
    for key, value in [("notificationRouting.ci.failing", "[desktop]"),
                       ("notificationRouting.pr.*", "[]"),
                       ("reactions.ci.failing.auto", "false")]:  # fmt: skip
        r = ao("config", "set", key, value, cwd=cfg.parent)
        assert r.returncode == 0, r.stderr
    data = yaml.safe_load(cfg.read_text())
    assert data["notificationRouting"] == {"ci.failing": ["desktop"], "pr.*": []}
    assert data["reactions"] == {"ci.failing": {"auto": False}}
    r = ao("config", "get", "notificationRouting.ci.failing", cwd=cfg.parent)
    assert r.stdout.strip() == "[desktop]"
    before = cfg.read_text()
    r = ao("config", "set", "notificationRouting.ci.faling", "[desktop]", cwd=cfg.parent)
    assert r.returncode != 0 and "did you mean 'ci.failing'" in r.stderr
    assert cfg.read_text() == before
