"""``ao config validate|show|schema`` and ``ao config-help`` through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import RunAo

from ao.config.models import AoConfig

REPO_ROOT = Path(__file__).resolve().parent.parent

GOOD = "projects:\n  app:\n    path: .\n    env:\n      TOKEN: ${AO_TEST_SECRET}\n"
BAD = "port: abc\nprojects:\n  app:\n    path: .\n    defaultBrnch: dev\n"


def config(directory: Path, text: str) -> Path:
    path = directory / "agent-orchestrator.yaml"
    path.write_text(text, encoding="utf-8")
    return path.resolve()


def test_validate_ok(ao: RunAo, tmp_path: Path) -> None:
    cfg = config(tmp_path, GOOD)
    res = ao("config", "validate", cwd=tmp_path, env={"AO_TEST_SECRET": "x"})
    assert (res.returncode, res.stdout, res.stderr) == (0, f"ok: {cfg} (1 project)\n", "")


def test_validate_prints_each_problem_on_one_line_and_exits_3(ao: RunAo, tmp_path: Path) -> None:
    cfg = config(tmp_path, BAD)
    res = ao("config", "validate", cwd=tmp_path)
    assert res.returncode == 3
    assert res.stdout == ""
    lines = res.stderr.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{cfg}:1: port: expected a valid integer")
    assert lines[1] == (
        f"{cfg}:5: projects.app.defaultBrnch: unknown key 'defaultBrnch'; "
        "did you mean 'defaultBranch'?"
    )


def test_validate_json_envelope(ao: RunAo, tmp_path: Path) -> None:
    cfg = config(tmp_path, BAD)
    res = ao("config", "validate", "--json", cwd=tmp_path)
    assert res.returncode == 3
    body = json.loads(res.stdout)
    assert list(body) == ["v", "data"] and body["v"] == 1
    assert list(body["data"]) == ["path", "valid", "problems"]
    assert body["data"]["path"] == str(cfg)
    assert body["data"]["valid"] is False
    assert len(body["data"]["problems"]) == 2

    cfg.write_text(GOOD)
    res = ao("config", "validate", "--json", cwd=tmp_path, env={"AO_TEST_SECRET": "x"})
    assert res.returncode == 0
    assert json.loads(res.stdout) == {
        "v": 1,
        "data": {"path": str(cfg), "valid": True, "problems": []},
    }


def test_validate_explicit_path_and_missing_config(ao: RunAo, tmp_path: Path) -> None:
    elsewhere = tmp_path / "conf"
    elsewhere.mkdir()
    cfg = config(elsewhere, BAD)
    res = ao("config", "validate", str(cfg), cwd=tmp_path)
    assert res.returncode == 3 and len(res.stderr.splitlines()) == 2

    res = ao("config", "validate", cwd=tmp_path)
    assert res.returncode == 3
    assert res.stderr.splitlines() == [
        f"no agent-orchestrator.yaml found in {tmp_path} or its parents (run `ao start` inside "
        "a git repository to create one, or set AO_CONFIG)"
    ]

    res = ao("--config", str(tmp_path / "gone.yaml"), "config", "validate", cwd=tmp_path)
    assert res.returncode == 3 and "gone.yaml" in res.stderr


def test_show_hides_secrets_and_fills_defaults(ao: RunAo, tmp_path: Path) -> None:
    config(tmp_path, GOOD)
    env = {"AO_TEST_SECRET": "hunter2-secret"}
    res = ao("config", "show", cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr
    assert "hunter2-secret" not in res.stdout
    assert "TOKEN: ${AO_TEST_SECRET}" in res.stdout
    assert "agent: auto" in res.stdout and "sessionPrefix: app" in res.stdout

    res = ao("config", "show", "--json", cwd=tmp_path, env=env)
    body = json.loads(res.stdout)
    assert body["v"] == 1 and list(body["data"]) == ["path", "config"]
    assert body["data"]["config"]["projects"]["app"]["env"] == {"TOKEN": "${AO_TEST_SECRET}"}
    assert "hunter2-secret" not in res.stdout


def test_show_redacts_credentials_written_into_the_file(ao: RunAo, tmp_path: Path) -> None:
    """A webhook URL's path is its token: shown as scheme and host only."""
    (tmp_path / "agent-orchestrator.yaml").write_text(
        "projects:\n  app:\n    path: .\nnotifiers:\n"
        "  slack: {plugin: slack, url: 'https://hooks.slack.com/services/T0/B0/XSECRETX'}\n"
        "  ntfy: {plugin: ntfy, url: 'https://ntfy.sh/topic-XSECRETX', token: tk_XSECRETX}\n"
        "plugins:\n  gitlab: {url: 'https://gitlab.example.com'}\n"
    )
    for args in (("config", "show"), ("config", "show", "--json")):
        res = ao(*args, cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        text = res.stdout if "--json" not in args else json.dumps(json.loads(res.stdout),
                                                                   ensure_ascii=False)  # fmt: skip
        assert "XSECRETX" not in text
        assert "https://hooks.slack.com/… <redacted>" in text
        assert "https://gitlab.example.com" in text  # nothing secret in a bare host


def test_show_on_a_bad_config_is_one_error_line(ao: RunAo, tmp_path: Path) -> None:
    cfg = config(tmp_path, BAD)
    res = ao("config", "show", cwd=tmp_path)
    assert res.returncode == 3 and res.stdout == ""
    (line,) = res.stderr.splitlines()
    assert line.startswith(f"ao: error: {cfg}:1: port: ") and "(and 1 more)" in line


def test_schema_command_prints_the_committed_schema(ao: RunAo, tmp_path: Path) -> None:
    res = ao("config", "schema", cwd=tmp_path)
    assert res.returncode == 0
    assert res.stdout == (REPO_ROOT / "docs" / "config.schema.json").read_text(), (
        "run `ao config schema > docs/config.schema.json`"
    )


def test_config_help_lists_every_key(ao: RunAo, tmp_path: Path) -> None:
    res = ao("config-help", cwd=tmp_path)
    assert res.returncode == 0
    text = res.stdout
    for section in ("projects.<id>", "projects.<id>.postCreate[]", "reactions.<name>"):
        assert f"\n{section}\n" in text

    from pydantic import BaseModel

    from ao.config import models

    described = [
        m
        for m in vars(models).values()
        if isinstance(m, type) and issubclass(m, BaseModel) and m.model_fields
    ]
    assert AoConfig in described and len(described) >= 8
    for model in described:
        for name, info in model.model_fields.items():
            key = info.alias or name
            assert f"\n  {key} " in text, f"{model.__name__}.{key} missing from config-help"
