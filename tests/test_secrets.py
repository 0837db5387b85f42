"""Secrets never reach the disk, an event or a message (issue 8, items 5 and 6).

The config cache keeps ``${NAME}`` references unresolved (JSON, 0600) and old pickled
caches are deleted; a forge that echoes the request's credentials in an error body (a
real HTTP server on loopback) never gets them printed by the CLI or stored in events.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import typing as t
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ao.config import InvalidConfigError, load_config
from ao.config.snapshot import FORMAT
from ao.sdk import redact
from ao.sdk.home import ao_home
from ao.store.paths import ProjectPaths
from ao.store.state import SessionStore, Status
from tests.conftest import RunAo

SECRET = "tok-Secret-4711-abcdef"  # no token shape: only the registry can catch it


def every_file(root: Path) -> Iterator[Path]:
    """Every regular file under ``root``."""
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            yield path


def leaks(root: Path, secret: str = SECRET) -> list[Path]:
    """Files under ``root`` whose bytes contain ``secret``."""
    return [p for p in every_file(root) if secret.encode() in p.read_bytes()]


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    stamp = path.stat().st_mtime + 5  # a distinct mtime even on coarse filesystems
    os.utime(path, (stamp, stamp))
    return path


SECRET_CONFIG = """\
defaults: {agent: shell}
projects:
  r:
    path: r
    env: {API_KEY: "${AO_TEST_TOKEN}"}
plugins:
  github: {token: "${AO_TEST_TOKEN}", note: "literal $${NOT_A_REF}"}
notifiers:
  hook: {plugin: webhook, url: "https://hooks.example.com/x/${AO_TEST_TOKEN}"}
"""


# ----------------------------------------------------------------------- the config cache


def test_list_and_status_leave_no_secret_on_disk(
    tmp_path: Path, ao: RunAo, monkeypatch: pytest.MonkeyPatch
) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path / "r")], check=True, timeout=30)
    write_config(tmp_path / "agent-orchestrator.yaml", SECRET_CONFIG)
    env = {"AO_TEST_TOKEN": SECRET}
    for args in (["list"], ["list", "--json"], ["status"], ["status", "--json"]):
        result = ao(*args, cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        assert SECRET not in result.stdout + result.stderr
    home = ao_home()
    assert not leaks(home)
    (cache,) = (home / "cache").glob("config-*.json")
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    doc = json.loads(cache.read_text())
    assert doc["format"] == FORMAT
    assert doc["data"]["plugins"]["github"]["token"] == "${AO_TEST_TOKEN}"
    assert doc["data"]["plugins"]["github"]["note"] == "literal ${NOT_A_REF}"

    # the cache is read (no validation), with the reference resolved from the environment
    monkeypatch.setenv("AO_TEST_TOKEN", SECRET)
    view = load_config(tmp_path / "agent-orchestrator.yaml", cached=True).model
    assert type(view).__name__ == "View"
    assert view.plugins["github"]["token"] == SECRET
    assert view.plugins["github"]["note"] == "literal ${NOT_A_REF}"
    assert view.projects["r"].env["API_KEY"] == SECRET
    assert view.notifiers["hook"].url == f"https://hooks.example.com/x/{SECRET}"  # type: ignore[attr-defined]
    assert view.projects["r"].path == (tmp_path / "r").resolve()


def test_a_warm_cache_with_secrets_still_skips_pydantic_and_yaml(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path / "r")], check=True, timeout=30)
    write_config(tmp_path / "agent-orchestrator.yaml", SECRET_CONFIG)
    probe = (
        "import sys\nfrom ao.cli import main\n"
        "try:\n    main(['list', '--json'])\nexcept SystemExit:\n    pass\n"
        "print('LOADED', 'pydantic' in sys.modules, 'yaml' in sys.modules, file=sys.stderr)\n"
    )
    env = {**os.environ, "AO_TEST_TOKEN": SECRET}
    run = [sys.executable, "-c", probe]
    runs = [
        subprocess.run(
            run, cwd=tmp_path, capture_output=True, text=True, check=True, env=env, timeout=60
        )
        for _ in range(2)
    ]
    assert "LOADED True True" in runs[0].stderr
    assert "LOADED False False" in runs[1].stderr


def test_a_changed_secret_is_read_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = write_config(tmp_path / "agent-orchestrator.yaml", SECRET_CONFIG)
    monkeypatch.setenv("AO_TEST_TOKEN", SECRET)
    load_config(cfg, cached=True)
    monkeypatch.setenv("AO_TEST_TOKEN", "another-secret-value")
    view = load_config(cfg, cached=True).model
    assert type(view).__name__ == "View"
    assert view.plugins["github"]["token"] == "another-secret-value"
    assert not leaks(ao_home()) and not leaks(ao_home(), "another-secret-value")


def test_an_unset_secret_is_a_cache_miss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = write_config(tmp_path / "agent-orchestrator.yaml", SECRET_CONFIG)
    monkeypatch.setenv("AO_TEST_TOKEN", SECRET)
    load_config(cfg, cached=True)
    monkeypatch.delenv("AO_TEST_TOKEN")
    with pytest.raises(InvalidConfigError, match="AO_TEST_TOKEN is not set"):
        load_config(cfg, cached=True)


def test_a_reference_that_validation_depends_on_is_never_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A value that validation transforms (an agent command split into argv) is
    validated on every load instead of being cached."""
    cfg = write_config(
        tmp_path / "agent-orchestrator.yaml",
        "projects: {r: {path: .}}\nagents: {shell: {command: 'sh --token ${AO_TEST_TOKEN}'}}\n",
    )
    monkeypatch.setenv("AO_TEST_TOKEN", SECRET)
    for _ in range(2):
        loaded = load_config(cfg, cached=True)
        assert type(loaded.model).__name__ == "AoConfig"
        assert loaded.model.agents["shell"].command == ["sh", "--token", SECRET]
    assert not leaks(ao_home())


def test_old_pickled_caches_are_deleted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = write_config(tmp_path / "agent-orchestrator.yaml", SECRET_CONFIG)
    cache = ao_home() / "cache"
    cache.mkdir(parents=True)
    old = cache / "config-0123456789ab.pickle"
    old.write_bytes(b"\x80\x05pickled " + SECRET.encode())
    monkeypatch.setenv("AO_TEST_TOKEN", SECRET)
    load_config(cfg, cached=True)
    assert not old.exists()
    assert not leaks(ao_home())


@pytest.mark.parametrize(
    "content",
    [b"", b"not json", b"[1, 2]", b'{"format": 999, "key": [], "data": {}}',
     b'{"format": 2, "key": null}', b"\xff\xfe"],
)  # fmt: skip
def test_a_cache_that_does_not_parse_is_a_miss(
    tmp_path: Path, content: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = write_config(tmp_path / "agent-orchestrator.yaml", SECRET_CONFIG)
    monkeypatch.setenv("AO_TEST_TOKEN", SECRET)
    load_config(cfg, cached=True)
    (cache,) = (ao_home() / "cache").glob("config-*.json")
    cache.write_bytes(content)
    loaded = load_config(cfg, cached=True)  # a miss: validated again, cache rewritten
    assert loaded.model.plugins["github"]["token"] == SECRET
    assert json.loads(cache.read_text())["format"] == FORMAT


def test_a_config_error_never_quotes_a_secret(tmp_path: Path, ao: RunAo) -> None:
    write_config(tmp_path / "agent-orchestrator.yaml", "port: ${AO_TEST_TOKEN}\nprojects: {}\n")
    for args in (["list"], ["config", "validate"], ["config", "validate", "--json"]):
        result = ao(*args, cwd=tmp_path, env={"AO_TEST_TOKEN": SECRET})
        assert result.returncode == 3
        assert "port" in result.stdout + result.stderr
        assert SECRET not in result.stdout + result.stderr


# ----------------------------------------------------------------------- ao.sdk.redact


def test_redact_masks_registered_values_and_token_shapes() -> None:
    redact.register("unit-test-secret-0042", "UNIT_TOKEN")
    assert redact.redact("x unit-test-secret-0042 y") == "x <redacted> y"
    cases = {
        "Authorization: Bearer abcd1234efgh": "Authorization: Bearer <redacted>",
        "PRIVATE-TOKEN: q1w2e3r4t5y6": "PRIVATE-TOKEN: <redacted>",
        "use ghp_" + "a1" * 18: "use <redacted>",
        "github_pat_" + "B2" * 20: "<redacted>",
        "glpat-" + "c3" * 10: "<redacted>",
        "key lin_api_" + "d4" * 10: "key <redacted>",
        "https://me:hunter22@example.com/x": "https://me:<redacted>@example.com/x",
    }
    for text, expected in cases.items():
        assert redact.redact(text) == expected
    # ordinary words are left alone
    for text in ("Bearer authentication required", "the token lacks permission", ""):
        assert redact.redact(text) == text
    data = {"k": ["unit-test-secret-0042", 3, {"n": "Bearer abcd1234efgh"}]}
    assert redact.redact_data(data) == {"k": ["<redacted>", 3, {"n": "Bearer <redacted>"}]}


def test_short_values_and_paths_are_not_registered(tmp_path: Path) -> None:
    redact.register("abc", "SHORT")
    redact.register(str(tmp_path), "SOMEDIR")
    redact.register("/home/someone/elsewhere", "HOME")
    assert redact.redact(f"abc in {tmp_path} and /home/someone/elsewhere") == (
        f"abc in {tmp_path} and /home/someone/elsewhere"
    )
    # a URL's short path is not a secret; a webhook's long path is
    redact.register("https://gitlab.example.test/api/v4", "GL_URL")
    redact.register("https://hooks.example.test/services/T0000/B0000/XXXXXXXXXXXX", "HOOK")
    assert redact.redact("GET /api/v4/projects: no route /services/T0000/B0000/XXXXXXXXXXXX") == (
        "GET /api/v4/projects: no route <redacted>"
    )


def test_events_are_redacted_and_private(tmp_path: Path) -> None:
    from ao.store import events

    redact.register("event-secret-77aa", "EVENT_TOKEN")
    paths = ProjectPaths(tmp_path / "agent-orchestrator.yaml", "p")
    events.append(paths, "scm.error", message="answered 401 (event-secret-77aa)",
                  data={"why": "Bearer xyz98765abcd", "n": 1})  # fmt: skip
    text = paths.events.read_text()
    assert "event-secret-77aa" not in text and "xyz98765abcd" not in text
    assert stat.S_IMODE(paths.events.stat().st_mode) == 0o600
    (event,) = events.read(paths.events)
    assert event["message"] == "answered 401 (<redacted>)" and event["data"]["n"] == 1


# ----------------------------------------------------------------------- echoing forges


class EchoServer:
    """A loopback HTTP server that answers every request with ``status`` and a body
    repeating the request's credentials (as some proxies and servers do)."""

    def __init__(self, status: int) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                auth = self.headers.get("Authorization") or self.headers.get("PRIVATE-TOKEN") or ""
                raw = auth.split()[-1] if auth else ""
                owner.seen.append(auth)
                if owner.status == 401:
                    body = json.dumps({
                        "message": f"Bad credentials: {auth}",
                        "errors": [{"message": f"token {raw} rejected",
                                    "extensions": {"type": "authentication error"}}],
                    }).encode()  # fmt: skip
                    kind = "application/json"
                else:
                    body = f"internal error; Authorization: {auth} (token {raw})".encode()
                    kind = "text/plain"
                self.send_response(owner.status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = _answer

            def log_message(self, *args: t.Any) -> None:
                return None

        self.status = status
        self.seen: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> EchoServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


FORGES = {
    # forge: (project keys, environment, issue reference)
    "github": ({}, {"GITHUB_TOKEN": SECRET}, "7"),
    "gitlab": ({"tracker": "gitlab", "scm": "gitlab"}, {"GITLAB_TOKEN": SECRET}, "7"),
    "linear": ({"tracker": "linear"}, {"LINEAR_API_KEY": SECRET}, "ENG-7"),
}


def forge_setup(tmp_path: Path, forge: str, url: str) -> tuple[dict[str, str], str]:
    """A project using ``forge`` at ``url``: the environment to run ao with, the issue."""
    keys, env, issue = FORGES[forge]
    subprocess.run(["git", "init", "-q", str(tmp_path / "repo")], check=True, timeout=30)
    project = {"path": "repo", "repo": "acme/app", "sessionPrefix": "d", **keys}
    config = {"defaults": {"agent": "shell"}, "projects": {"demo": project},
              "plugins": {"gitlab": {"url": url, "retries": 0},
                          "linear": {"retries": 0}, "github": {"retries": 0}}}  # fmt: skip
    write_config(tmp_path / "agent-orchestrator.yaml", json.dumps(config))
    env = {**env, "AO_GITHUB_API_URL": url, "AO_LINEAR_API_URL": url,
           "AO_TMUX_SOCKET": f"ao-test-{os.getpid()}-{tmp_path.name}"}  # fmt: skip
    return env, issue


@pytest.mark.parametrize("status", [401, 500])
@pytest.mark.parametrize("forge", sorted(FORGES))
def test_spawn_never_prints_a_token_the_forge_echoes(
    tmp_path: Path, ao: RunAo, forge: str, status: int
) -> None:
    with EchoServer(status) as server:
        env, issue = forge_setup(tmp_path, forge, server.url)
        for args in (["spawn", issue], ["spawn", issue, "--json"]):
            result = ao(*args, cwd=tmp_path, env=env)
            assert result.returncode != 0
            shown = result.stdout + result.stderr
            assert {"github": "GitHub", "gitlab": "GitLab", "linear": "Linear"}[forge] in shown
            assert SECRET not in shown, shown
        assert any(SECRET in seen for seen in server.seen)  # it was sent, and echoed
    assert not leaks(ao_home())


@pytest.mark.parametrize("status", [401, 500])
@pytest.mark.parametrize("forge", ["github", "gitlab"])
def test_watch_never_stores_a_token_the_forge_echoes(
    tmp_path: Path, ao: RunAo, forge: str, status: int
) -> None:
    with EchoServer(status) as server:
        env, _ = forge_setup(tmp_path, forge, server.url)
        paths = ProjectPaths((tmp_path / "agent-orchestrator.yaml").resolve(), "demo")
        SessionStore(paths).reserve("d", status=Status.EXITED, branch="feat/x", agent="shell")
        result = ao("watch", "--once", cwd=tmp_path, env=env)
        assert SECRET not in result.stdout + result.stderr
        shown = ao("events", "--json", cwd=tmp_path, env=env).stdout
        assert any(SECRET in seen for seen in server.seen)
    errors = [e for e in map(json.loads, shown.splitlines()) if e["type"] == "scm.error"]
    assert errors and str(status) in errors[0]["message"], shown
    assert SECRET not in paths.events.read_text()
    assert not leaks(ao_home())
