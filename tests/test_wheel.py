"""The built distribution, installed the way a user installs it, works on its own.

``python -m build`` makes the sdist and, from it, the wheel (so a file missing from
either shows here); the wheel goes non-editable into a fresh venv, and everything below
runs from that venv with no path to this checkout: the version, every built-in plugin,
the config schema, ``ao doctor``, and a shell-agent session end to end (the tmux
runtime's launcher, a file of the wheel, starts the agent).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import libtmux
import pytest
import yaml

import ao
from tests.conftest import REPO_ROOT
from tests.sessionkit import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.tmux, pytest.mark.timeout(600)]

DIST_NAME = "ao-cli"


def run(argv: list[str | Path], *, cwd: Path, timeout: float = 300, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    r = subprocess.run(
        [str(a) for a in argv], cwd=cwd, env={**clean, **env}, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip
    assert r.returncode == 0, f"{argv} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    return r.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel built from this checkout installed (not editable)."""
    root = tmp_path_factory.mktemp("wheel")
    dist = root / "dist"
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, REPO_ROOT], cwd=root)
    (sdist,) = dist.glob("ao_cli-*.tar.gz")
    (wheel,) = dist.glob("ao_cli-*.whl")
    assert sdist.name == f"ao_cli-{ao.__version__}.tar.gz"
    env_dir = root / "venv"
    venv.create(env_dir, with_pip=True)
    run([env_dir / "bin" / "python", "-m", "pip", "install", "-q", wheel], cwd=root)
    return env_dir


def site_packages(env_dir: Path) -> Path:
    (found,) = (env_dir / "lib").glob("python3*/site-packages")
    return found


def test_the_wheel_claims_two_import_names(installed: Path) -> None:
    (record,) = site_packages(installed).glob("ao_cli-*.dist-info/RECORD")
    tops = {
        line.split(",")[0].split("/")[0]
        for line in record.read_text().splitlines()
        if not line.startswith("..")  # the `ao` script in bin/
    }
    assert {t for t in tops if not t.endswith(".dist-info")} == {"ao", "ao_plugins"}
    # nothing is imported from the checkout
    where = run(
        [installed / "bin" / "python", "-c", "import ao; print(ao.__file__)"], cwd=installed
    )
    assert Path(where.strip()).is_relative_to(site_packages(installed))


def test_the_wheel_ships_the_dashboards_page(installed: Path) -> None:
    """The page and the vendored xterm.js are package files: no build step, no download."""
    source = REPO_ROOT / "ao" / "web" / "static"
    shipped = site_packages(installed) / "ao" / "web" / "static"
    files = sorted(p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file())
    assert {"index.html", "app.js", "vendor/xterm/xterm.mjs", "vendor/xterm/LICENSE"} <= set(files)
    for name in files:
        assert (shipped / name).read_bytes() == (source / name).read_bytes(), name


def test_version_plugins_schema_and_doctor_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    ao_bin = installed / "bin" / "ao"
    assert run([ao_bin, "--version"], cwd=tmp_path).strip() == f"ao {ao.__version__}"

    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    declared = {
        (group.removeprefix("ao."), name)
        for group, entries in pyproject["project"]["entry-points"].items()
        for name in entries
    }
    listed = json.loads(run([ao_bin, "plugins", "--json"], cwd=tmp_path))["data"]
    assert {(p["slot"], p["name"]) for p in listed} == declared
    assert {p["package"] for p in listed} == {DIST_NAME}
    assert all(p["target"].startswith("ao_plugins.") for p in listed)

    schema = run([ao_bin, "config", "schema"], cwd=tmp_path)
    assert schema == (REPO_ROOT / "docs" / "config.schema.json").read_text()

    checks = json.loads(run([ao_bin, "doctor", "--json"], cwd=tmp_path))["data"]
    levels = {c["name"]: c["level"] for c in checks}
    assert all(level == "PASS" for name, level in levels.items() if name.startswith("runtime "))
    assert levels["tmux"] == "PASS" and levels["python"] == "PASS"
    unloadable = [c for c in checks if c["level"] == "FAIL"]
    assert unloadable == [], unloadable


def test_a_shell_session_end_to_end_from_the_wheel(
    installed: Path, git_repo: Path, server: libtmux.Server
) -> None:
    ao_bin = installed / "bin" / "ao"
    assert server.socket_name is not None
    env = {"AO_TMUX_SOCKET": server.socket_name}
    config = {
        "defaults": {"agent": "shell"},
        "projects": {"demo": {"path": str(git_repo), "sessionPrefix": "w"}},
    }
    (git_repo.parent / "agent-orchestrator.yaml").write_text(yaml.safe_dump(config))
    cwd = git_repo.parent

    run([ao_bin, "new", "echo made-by-the-wheel > proof.txt"], cwd=cwd, **env)
    (session,) = json.loads(run([ao_bin, "list", "--json"], cwd=cwd, **env))["data"]
    proof = Path(session["worktree"]) / "proof.txt"
    wait_for(lambda: proof.exists() and proof.read_text() == "made-by-the-wheel\n", 30, "proof")
    status = json.loads(run([ao_bin, "status", "w-1", "--json"], cwd=cwd, **env))["data"]
    assert status["status"] in ("working", "ready") and status["agent"] == "shell"
    run([ao_bin, "send", "w-1", "echo second >> proof.txt"], cwd=cwd, **env)
    wait_for(lambda: proof.read_text().endswith("second\n"), 30, "the sent command")
    run([ao_bin, "stop", "w-1", "--force"], cwd=cwd, **env)
    assert json.loads(run([ao_bin, "list", "--json"], cwd=cwd, **env))["data"] == []
