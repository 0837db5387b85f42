"""The validated-config cache: same answers as a full load, invalidated by any change."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ao.config import load_config


def write(path: Path, text: str) -> None:
    path.write_text(text)
    # a distinct mtime even on coarse filesystems
    stamp = time.time() + 5
    os.utime(path, (stamp, stamp))


def test_cached_load_matches_the_full_load(tmp_path: Path) -> None:
    cfg = tmp_path / "agent-orchestrator.yaml"
    write(cfg, "defaults: {agent: shell}\nprojects:\n  web:\n    path: .\n    copy: ['.env*']\n"
          "    postCreate: ['npm ci']\n")  # fmt: skip
    full = load_config(cfg)
    load_config(cfg, cached=True)  # writes the snapshot
    cached = load_config(cfg, cached=True)
    assert type(cached.model).__name__ == "View"
    proj = cached.model.projects["web"]
    assert proj.path == full.model.projects["web"].path == tmp_path
    assert proj.copy_ == [".env*"]
    assert [c.run for c in proj.post_create] == [["npm", "ci"]]
    assert cached.model.defaults.agent == "shell"
    assert "web" in cached.model.projects and list(cached.model.projects) == ["web"]


def test_a_changed_file_is_validated_again(tmp_path: Path) -> None:
    cfg = tmp_path / "agent-orchestrator.yaml"
    write(cfg, "projects:\n  web: {path: .}\n")
    load_config(cfg, cached=True)
    write(cfg, "projects:\n  web: {path: ., defaultBrnch: main}\n")
    with pytest.raises(Exception, match="defaultBranch"):
        load_config(cfg, cached=True)


def test_a_changed_env_reference_is_expanded_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "agent-orchestrator.yaml"
    write(cfg, "projects:\n  web: {path: ., model: '${AO_TEST_MODEL}'}\n")
    monkeypatch.setenv("AO_TEST_MODEL", "one")
    load_config(cfg, cached=True)
    assert load_config(cfg, cached=True).model.projects["web"].model == "one"
    monkeypatch.setenv("AO_TEST_MODEL", "two")
    assert load_config(cfg, cached=True).model.projects["web"].model == "two"


def test_list_does_not_import_pydantic_or_yaml_once_cached(tmp_path: Path) -> None:
    """The hot path stays light: a cached `ao list` never imports pydantic or yaml."""
    subprocess.run(["git", "init", "-q", str(tmp_path / "r")], check=True)
    (tmp_path / "agent-orchestrator.yaml").write_text(
        "defaults: {agent: shell}\nprojects:\n  r: {path: r}\n"
    )
    probe = (
        "import sys\nfrom ao.cli import main\n"
        "try:\n    main(['list', '--json'])\nexcept SystemExit:\n    pass\n"
        "print('LOADED', 'pydantic' in sys.modules, 'yaml' in sys.modules, file=sys.stderr)\n"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
        )
        for _ in range(2)
    ]
    assert "LOADED True True" in runs[0].stderr  # first run validates and caches
    assert "LOADED False False" in runs[1].stderr
