"""The config library: discovery, loading, problems with lines, env refs, edits, schema."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ao.config import (
    InvalidConfigError,
    find_config_path,
    load_config,
    require_project,
)
from ao.config.edit import (
    add_project,
    new_config_text,
    remove_project,
    schema_json,
    schema_text,
    write_schema_file,
)
from ao.config.loader import effective, parse_text
from ao.sdk.errors import ConfigError, ConflictError, NotFoundError, UsageError
from ao.sdk.home import ao_home

REPO_ROOT = Path(__file__).resolve().parent.parent


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(InvalidConfigError) as info:
        load_config(path)
    assert isinstance(info.value, ConfigError)
    assert info.value.exit_code == 3
    return info.value.problems


# --- discovery ---------------------------------------------------------------------------


def test_walks_up_to_the_nearest_config(tmp_path: Path) -> None:
    outer = write(tmp_path / "agent-orchestrator.yaml", "projects: {}\n")
    inner = write(tmp_path / "a" / "agent-orchestrator.yml", "projects: {}\n")
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    assert find_config_path(deep) == inner.resolve()
    assert find_config_path(tmp_path) == outer.resolve()


def test_ao_config_wins_over_walk_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "agent-orchestrator.yaml", "projects: {}\n")
    chosen = write(tmp_path / "elsewhere" / "mine.yaml", "projects: {}\n")
    monkeypatch.setenv("AO_CONFIG", str(chosen))
    assert find_config_path(tmp_path) == chosen.resolve()
    assert load_config(cwd=tmp_path).path == chosen.resolve()


def test_ao_config_naming_a_missing_file_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "agent-orchestrator.yaml", "projects: {}\n")
    missing = tmp_path / "nope.yaml"
    monkeypatch.setenv("AO_CONFIG", str(missing))
    with pytest.raises(ConfigError, match=r"nope\.yaml"):
        find_config_path(tmp_path)


def test_global_config_is_the_last_resort(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    assert find_config_path(work) is None
    glob = write(ao_home() / "config.yaml", "projects: {}\n")
    assert find_config_path(work) == glob.resolve()
    write(work / "agent-orchestrator.yaml", "projects: {}\n")
    assert find_config_path(work) == (work / "agent-orchestrator.yaml").resolve()


def test_no_config_is_a_config_error_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(cwd=tmp_path)
    assert info.value.message == f"no agent-orchestrator.yaml found in {tmp_path} or its parents"
    assert info.value.hint is not None and "AO_CONFIG" in info.value.hint


# --- loading -----------------------------------------------------------------------------


def test_project_paths_are_absolute_relative_to_the_config(tmp_path: Path) -> None:
    cfg = write(
        tmp_path / "conf" / "agent-orchestrator.yaml",
        "projects:\n  app:\n    path: ../repo\n  home:\n    path: ~/src/x\n",
    )
    loaded = load_config(cfg)
    assert loaded.path == cfg.resolve()
    assert loaded.model.projects["app"].path == (tmp_path / "repo").resolve()
    assert loaded.model.projects["home"].path == (Path.home() / "src" / "x").resolve()
    assert loaded.raw["projects"]["app"]["path"] == "../repo"


def test_malformed_yaml_names_line_and_column(tmp_path: Path) -> None:
    cfg = write(tmp_path / "agent-orchestrator.yaml", "projects:\n  app:\n    path: x\n   bad: 1\n")
    (problem,) = problems_of(cfg)
    assert problem.startswith(f"{cfg}:4:")
    assert "invalid YAML" in problem


def test_unknown_key_suggests_the_right_one_with_its_line(tmp_path: Path) -> None:
    cfg = write(
        tmp_path / "agent-orchestrator.yaml",
        "# comment\nprojects:\n  app:\n    path: .\n    defaultBrnch: dev\n",
    )
    (problem,) = problems_of(cfg)
    assert problem == (
        f"{cfg}:5: projects.app.defaultBrnch: unknown key 'defaultBrnch'; "
        "did you mean 'defaultBranch'?"
    )


def test_snake_case_keys_are_unknown_and_point_at_camel_case(tmp_path: Path) -> None:
    cfg = write(tmp_path / "agent-orchestrator.yaml", "projects:\n  a:\n    path: .\n")
    write(cfg, "projects:\n  a:\n    path: .\n    default_branch: dev\n")
    (problem,) = problems_of(cfg)
    assert ":4: projects.a.default_branch:" in problem
    assert "did you mean 'defaultBranch'?" in problem


def test_wrong_type_names_path_expected_type_and_value(tmp_path: Path) -> None:
    long = "x" * 200
    cfg = write(
        tmp_path / "agent-orchestrator.yaml",
        f"port: abc\nprojects:\n  app:\n    path: .\n    maxSessions: {long}\n",
    )
    first, second = problems_of(cfg)
    assert first.startswith(f"{cfg}:1: port: expected a valid integer")
    assert first.endswith("got 'abc'")
    assert second.startswith(f"{cfg}:5: projects.app.maxSessions: expected a valid integer")
    assert "..." in second.rsplit("got ", 1)[1] and "x" * 100 not in second  # truncated


def test_every_problem_is_listed_and_the_message_counts_the_rest(tmp_path: Path) -> None:
    cfg = write(
        tmp_path / "agent-orchestrator.yaml",
        "port: abc\nbogus: 1\nprojects:\n  app:\n    sessionPrefix: Bad Prefix\n",
    )
    with pytest.raises(InvalidConfigError) as info:
        load_config(cfg)
    problems = info.value.problems
    assert [p.split(": ", 1)[0] for p in problems] == [
        f"{cfg}:1",
        f"{cfg}:2",
        f"{cfg}:4",
        f"{cfg}:5",
    ]
    assert "projects.app: required key 'path' is missing" in problems[2]
    assert info.value.message == f"{problems[0]} (and 3 more)"


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    cfg = write(tmp_path / "agent-orchestrator.yaml", "- projects\n- more\n")
    (problem,) = problems_of(cfg)
    assert problem.startswith(f"{cfg}:1: ")
    assert "top level must be a mapping" in problem and "list" in problem


def test_invalid_project_id_points_at_the_id(tmp_path: Path) -> None:
    cfg = write(
        tmp_path / "agent-orchestrator.yaml",
        "projects:\n  ok:\n    path: a\n  'my app!':\n    path: b\n",
    )
    (problem,) = problems_of(cfg)
    assert problem.startswith(f"{cfg}:4: projects.my app!: project id 'my app!' must start")


def test_duplicate_session_prefixes_name_both_projects(tmp_path: Path) -> None:
    cfg = write(
        tmp_path / "agent-orchestrator.yaml",
        "projects:\n  my-app:\n    path: a\n  mobile-app:\n    path: b\n",
    )
    (problem,) = problems_of(cfg)
    assert problem.startswith(f"{cfg}:4: projects.mobile-app: ")
    assert "'my-app' and 'mobile-app' share sessionPrefix 'ma'" in problem
    write(cfg, cfg.read_text() + "    sessionPrefix: mob\n")
    assert set(load_config(cfg).model.projects) == {"my-app", "mobile-app"}


def test_duplicate_yaml_keys_are_reported(tmp_path: Path) -> None:
    cfg = write(
        tmp_path / "agent-orchestrator.yaml",
        "projects:\n  app:\n    path: a\n  app:\n    path: b\n",
    )
    (problem,) = problems_of(cfg)
    assert problem.startswith(f"{cfg}:4: projects.app: duplicate key")


@pytest.mark.parametrize("value", ["5x", "'-3m'", "[1]", "true"])
def test_bad_durations_are_errors_not_zero(tmp_path: Path, value: str) -> None:
    cfg = write(
        tmp_path / "agent-orchestrator.yaml",
        f"reactions:\n  ci-failed:\n    action: send-to-agent\n    escalateAfter: {value}\n",
    )
    (problem,) = problems_of(cfg)
    assert problem.startswith(f"{cfg}:4: reactions.ci-failed.escalateAfter: ")


@pytest.mark.parametrize("value", ["4XB", "-1", "true", "'lots'"])
def test_bad_sizes_are_errors(tmp_path: Path, value: str) -> None:
    cfg = write(tmp_path / "agent-orchestrator.yaml", f"minFreeMemory: {value}\n")
    (problem,) = problems_of(cfg)
    assert problem.startswith(f"{cfg}:1: minFreeMemory: "), problem


def test_sizes_are_bytes() -> None:
    from ao.config.models import parse_size

    assert [parse_size(v) for v in ("4GB", "1.5 GiB", "512mb", 2048)] == [
        4_000_000_000, 1_610_612_736, 512_000_000, 2048,
    ]  # fmt: skip


def test_a_port_range_past_65535_is_an_error(tmp_path: Path) -> None:
    cfg = write(
        tmp_path / "agent-orchestrator.yaml",
        "projects:\n  app:\n    path: .\nports:\n  base: 65000\n  blockSize: 10\n  blocks: 100\n",
    )
    (problem,) = problems_of(cfg)
    assert problem.startswith(f"{cfg}:4: ports: ") and "65999" in problem, problem


def test_durations_and_attempt_counts(tmp_path: Path) -> None:
    cfg = write(
        tmp_path / "agent-orchestrator.yaml",
        "reactions:\n  ci-failed:\n    escalateAfter: 30m\n  changes-requested:\n"
        "    escalateAfter: 3\n  agent-stuck:\n    threshold: 1.5h\n",
    )
    reactions = load_config(cfg).model.reactions
    assert reactions["ci-failed"].escalate_after == 1800.0
    review = reactions["changes-requested"].escalate_after
    assert review == 3 and isinstance(review, int)
    assert reactions["agent-stuck"].threshold == 5400.0


def test_lifecycle_mistakes_are_config_errors_with_their_key_path(tmp_path: Path) -> None:
    """What would otherwise crash every watcher pass (or silently never fire) is caught
    by validation, with the key path and a suggestion."""
    cfg = write(
        tmp_path / "agent-orchestrator.yaml",
        "notifiers:\n  ops:\n    plugin: webhook\n    url: http://127.0.0.1:9/\n"
        "notificationRouting:\n  urgent: [ops, nosuch]\n"
        "reactions:\n  tests-wanted:\n    condition: \"lable == 'x'\"\n"
        "  broken:\n    condition: 'label =='\n",
    )
    problems = problems_of(cfg)
    assert problems[0].startswith(
        f"{cfg}:6: notificationRouting.urgent[1]: unknown notifier 'nosuch'"
    )
    assert problems[1].startswith(
        f"{cfg}:9: reactions.tests-wanted.condition: unknown name 'lable' in condition; "
        "did you mean 'label'?"
    )
    assert problems[2].startswith(f"{cfg}:11: reactions.broken.condition: invalid condition")
    assert len(problems) == 3

    cfg.write_text("reactions:\n  ci-faild:\n    retries: 1\n", encoding="utf-8")
    (problem,) = problems_of(cfg)
    assert problem.startswith(
        f"{cfg}:2: reactions.ci-faild: unknown reaction 'ci-faild': did you mean 'ci-failed'?"
    )
    cfg.write_text("defaults:\n  notifiers: [desktp]\n", encoding="utf-8")
    (problem,) = problems_of(cfg)
    assert problem.startswith(
        f"{cfg}:2: defaults.notifiers[0]: unknown notifier 'desktp'; did you mean 'desktop'?"
    )
    # a custom key with a condition, plugin names and configured names are all fine
    cfg.write_text(
        "defaults:\n  notifiers: [desktop]\nnotificationRouting:\n  info: [webhook]\n"
        "reactions:\n  tests-wanted:\n    condition: \"label == 'needs-tests'\"\n",
        encoding="utf-8",
    )
    assert load_config(cfg).model.reactions["tests-wanted"].condition


# --- ${NAME} -----------------------------------------------------------------------------


def test_env_references_are_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AO_TEST_TOKEN", "s3cret")
    monkeypatch.setenv("AO_TEST_PORT", "8123")
    cfg = write(
        tmp_path / "agent-orchestrator.yaml",
        "port: ${AO_TEST_PORT}\nprojects:\n  app:\n    path: .\n    env:\n"
        "      TOKEN: ${AO_TEST_TOKEN}\n      MIXED: a-${AO_TEST_TOKEN}-b\n"
        "      LITERAL: $${AO_TEST_TOKEN}\n",
    )
    loaded = load_config(cfg)
    assert loaded.model.port == 8123
    env = loaded.model.projects["app"].env
    assert env == {"TOKEN": "s3cret", "MIXED": "a-s3cret-b", "LITERAL": "${AO_TEST_TOKEN}"}
    assert loaded.raw["projects"]["app"]["env"]["TOKEN"] == "${AO_TEST_TOKEN}"


def test_unset_env_reference_names_file_line_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AO_TEST_UNSET", raising=False)
    cfg = write(
        tmp_path / "agent-orchestrator.yaml",
        "projects:\n  app:\n    path: .\n    env:\n      TOKEN: ${AO_TEST_UNSET}\n",
    )
    (problem,) = problems_of(cfg)
    assert problem == (
        f"{cfg}:5: projects.app.env.TOKEN: environment variable AO_TEST_UNSET is not set "
        "(used as ${AO_TEST_UNSET})"
    )


def test_malformed_env_reference_is_an_error(tmp_path: Path) -> None:
    cfg = write(tmp_path / "agent-orchestrator.yaml", "tmux:\n  socket: ${not closed\n")
    (problem,) = problems_of(cfg)
    assert problem.startswith(f"{cfg}:2: tmux.socket: malformed environment reference")


def test_effective_config_shows_references_not_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AO_TEST_TOKEN", "s3cret-value")
    cfg = write(
        tmp_path / "agent-orchestrator.yaml",
        "defaults:\n  agent: claude\nprojects:\n  app:\n    path: .\n"
        "    postCreate:\n      - login --token ${AO_TEST_TOKEN}\n"
        "    env:\n      TOKEN: ${AO_TEST_TOKEN}\n",
    )
    data = effective(load_config(cfg))
    assert "s3cret-value" not in repr(data)
    app = data["projects"]["app"]
    assert app["env"]["TOKEN"] == "${AO_TEST_TOKEN}"
    assert app["postCreate"][0]["run"] == ["login", "--token", "${AO_TEST_TOKEN}"]
    assert app["agent"] == "claude" and app["sessionPrefix"] == "app"


# --- require_project ---------------------------------------------------------------------


def two_projects(tmp_path: Path) -> Path:
    return write(
        tmp_path / "agent-orchestrator.yaml",
        "projects:\n  frontend:\n    path: web\n  backend:\n    path: api\n",
    )


def test_require_project_by_name_and_by_cwd(tmp_path: Path) -> None:
    loaded = load_config(two_projects(tmp_path))
    assert require_project(loaded, "backend", tmp_path)[0] == "backend"
    inside = tmp_path / "web" / "src"
    inside.mkdir(parents=True)
    assert require_project(loaded, None, inside)[0] == "frontend"
    with pytest.raises(UsageError, match="several projects; pass --project"):
        require_project(loaded, None, tmp_path)


def test_require_project_unknown_name_suggests(tmp_path: Path) -> None:
    loaded = load_config(two_projects(tmp_path))
    with pytest.raises(NotFoundError) as info:
        require_project(loaded, "fronted", tmp_path)
    assert "did you mean 'frontend'?" in info.value.message
    assert info.value.hint == "known projects: backend, frontend"


def test_require_project_single_project_needs_no_name(tmp_path: Path) -> None:
    cfg = write(tmp_path / "agent-orchestrator.yaml", "projects:\n  only:\n    path: x\n")
    assert require_project(load_config(cfg), None, Path("/"))[0] == "only"


# --- edits -------------------------------------------------------------------------------

COMMENTED = """\
# my orchestrator config
defaults:
  agent: claude   # the one we pay for

projects:
  # the web app
  web:
    path: web
    symlinks: ['node_modules']

  # the api
  api:
    path: api
    env:
      TOKEN: ${AO_TEST_NOT_SET_HERE}

# keep reactions last
reactions: {}
"""


def test_add_project_keeps_comments_and_order(tmp_path: Path) -> None:
    cfg = write(tmp_path / "agent-orchestrator.yaml", COMMENTED)
    add_project(cfg, "docs", {"path": tmp_path / "docs", "default_branch": "trunk"})
    text = cfg.read_text()
    assert text.startswith(COMMENTED.split("\n# keep reactions last")[0].rstrip("\n") + "\n")
    assert text.endswith("\n# keep reactions last\nreactions: {}\n")
    assert "${AO_TEST_NOT_SET_HERE}" in text
    data = parse_text(text, str(cfg)).raw
    assert list(data["projects"]) == ["web", "api", "docs"]
    assert data["projects"]["docs"] == {"path": str(tmp_path / "docs"), "defaultBranch": "trunk"}


def test_remove_project_keeps_other_comments(tmp_path: Path) -> None:
    cfg = write(tmp_path / "agent-orchestrator.yaml", COMMENTED)
    remove_project(cfg, "web")
    text = cfg.read_text()
    assert "# the web app" not in text and "node_modules" not in text
    for kept in (
        "# my orchestrator config",
        "# the one we pay for",
        "# the api",
        "# keep reactions last",
    ):
        assert kept in text
    remove_project(cfg, "api")
    assert "projects: {}" in cfg.read_text()
    assert "# keep reactions last" in cfg.read_text()


def test_add_existing_project_is_idempotent_or_a_conflict(tmp_path: Path) -> None:
    cfg = write(tmp_path / "agent-orchestrator.yaml", COMMENTED)
    add_project(cfg, "web", {"path": tmp_path / "web"})
    assert cfg.read_text() == COMMENTED
    with pytest.raises(ConflictError, match="'web' already exists"):
        add_project(cfg, "web", {"path": tmp_path / "other"})
    assert cfg.read_text() == COMMENTED


def test_failed_edit_leaves_the_file_untouched(tmp_path: Path) -> None:
    cfg = write(tmp_path / "agent-orchestrator.yaml", COMMENTED)
    before = cfg.read_bytes()
    with pytest.raises(InvalidConfigError) as info:
        add_project(cfg, "wobble", {"path": "w", "sessionPrefix": "web"})  # prefix clash
    assert any("share sessionPrefix 'web'" in p for p in info.value.problems)
    with pytest.raises(InvalidConfigError):
        add_project(cfg, "docs", {"path": "d", "maxSessions": 0})
    with pytest.raises(UsageError):
        add_project(cfg, "bad id!", {"path": "d"})
    with pytest.raises(NotFoundError, match="no project 'nope'"):
        remove_project(cfg, "nope")
    assert cfg.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agent-orchestrator.yaml", "home"]


def test_edits_lock_outside_the_repository(tmp_path: Path) -> None:
    cfg = write(tmp_path / "repo" / "agent-orchestrator.yaml", COMMENTED)
    add_project(cfg, "docs", {"path": "docs"})
    assert [p.name for p in (tmp_path / "repo").iterdir()] == ["agent-orchestrator.yaml"]
    locks = list((ao_home() / "locks").glob("config-*.lock"))
    assert len(locks) == 1 and len(locks[0].stem) == len("config-") + 12


def test_add_project_creates_a_missing_config(tmp_path: Path) -> None:
    cfg = tmp_path / "agent-orchestrator.yaml"
    add_project(cfg, "app", {"path": "."})
    loaded = load_config(cfg)
    assert loaded.model.projects["app"].path == tmp_path.resolve()


def test_new_config_text(tmp_path: Path) -> None:
    text = new_config_text({"app": {"path": "/src/app", "default_branch": "dev"}})
    assert text.startswith("# ")
    schema_file = ao_home() / "config.schema.json"
    assert f"$schema: {schema_file}\n" in text
    assert schema_file.read_text() == schema_text()
    assert "\ndefaults:\n" in text and "\nprojects:\n" in text
    cfg = write(tmp_path / "agent-orchestrator.yaml", text)
    project = load_config(cfg).model.projects["app"]
    assert project.default_branch == "dev" and project.path == Path("/src/app")
    with pytest.raises(InvalidConfigError):
        new_config_text({"app": {"path": "/a", "permissions": "everything"}})


# --- schema ------------------------------------------------------------------------------


def test_committed_schema_matches_the_models() -> None:
    committed = (REPO_ROOT / "docs" / "config.schema.json").read_text(encoding="utf-8")
    assert committed == schema_text(), (
        "docs/config.schema.json is stale: run `ao config schema > docs/config.schema.json`"
    )


def test_schema_describes_every_key_and_accepts_shorthands() -> None:
    schema = schema_json()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "agent-orchestrator.yaml" and "$id" in schema
    for name, model in [("(top level)", schema), *schema["$defs"].items()]:
        for key, prop in model["properties"].items():
            assert prop.get("description"), f"{name}.{key} has no description"
    post_create = schema["$defs"]["ProjectConfig"]["properties"]["postCreate"]["items"]
    assert {"type": "string"} in post_create["anyOf"]
    assert write_schema_file() == ao_home() / "config.schema.json"


def test_importing_ao_config_stays_light() -> None:
    code = (
        "import sys, ao.config, ao.cli.config_cmd; "
        "heavy = [m for m in ('pydantic', 'yaml') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT)


def test_configuration_docs_cover_every_key_and_their_example_is_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = (REPO_ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    schema = schema_json()
    for name, model in [("(top level)", schema), *schema["$defs"].items()]:
        for key in model["properties"]:
            assert f"| `{key}` |" in doc, f"docs/configuration.md does not describe {name}.{key}"
    example = doc.split("## A fuller example", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    monkeypatch.setenv("NPM_TOKEN", "t")
    monkeypatch.setenv("SLACK_WEBHOOK", "https://example.invalid/hook")
    loaded = load_config(write(tmp_path / "agent-orchestrator.yaml", example))
    assert set(loaded.model.projects) == {"web", "api"}
    assert loaded.model.reactions["changes-requested"].escalate_after == 1800.0
