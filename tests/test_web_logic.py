"""The page's own logic (ao/web/static/api.js), run by node on real data: the permission
menus of real agent CLIs (tests/agents/screens) read into the same options the server's
send picks from, the attention groups, and what may become a link."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from ao.session.delivery import menu_keys
from tests.conftest import REPO_ROOT

API_JS = REPO_ROOT / "ao" / "web" / "static" / "api.js"
SCREENS = REPO_ROOT / "tests" / "agents" / "screens"


def node(script: str, data: object) -> object:
    if shutil.which("node") is None:
        pytest.skip("node is not installed (scripts/install-system-test-deps.sh)")
    program = f"import * as api from {json.dumps(API_JS.as_uri())};\n" + (
        "const data = JSON.parse(process.argv[1]);\n" + script
    )
    r = subprocess.run(
        ["node", "--input-type=module", "-e", program, json.dumps(data)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_menu_options_are_those_the_send_answers() -> None:
    screens = {name: (SCREENS / name).read_text() for name in (
        "codex-approval.txt", "claude-permission-bash.txt", "codex-done.txt",
    )}  # fmt: skip
    options = node(
        "console.log(JSON.stringify(Object.fromEntries(Object.entries(data).map("
        "([k, v]) => [k, api.menuOptions(v)]))))",
        screens,
    )
    assert isinstance(options, dict)
    assert [n for n, _ in options["codex-approval.txt"]] == ["1", "2", "3"]
    assert options["codex-approval.txt"][0][1] == "Yes, proceed"
    assert options["codex-approval.txt"][2][1].startswith("No, and tell Codex")
    assert options["claude-permission-bash.txt"][0] == ["1", "Yes"]
    assert options["claude-permission-bash.txt"][-1] == ["4", "No"]
    assert options["codex-done.txt"] == []  # no menu: the page offers Yes / No
    for name in ("codex-approval.txt", "claude-permission-bash.txt"):
        for number, _ in options[name]:  # each button's reply picks its option on the server
            assert menu_keys(screens[name], number), (name, number)


def test_attention_groups_and_links() -> None:
    rows = [
        {"status": "working", "activity": "needs_input"},
        {"status": "mergeable", "activity": "ready"},
        {"status": "stuck", "activity": "working"},
        {"status": "ci_failed", "activity": "ready"},
        {"status": "spawning", "activity": "unknown"},
        {"status": "ready", "activity": "ready"},
        {"status": "pr_open", "activity": "ready"},
        {"status": "exited", "activity": "exited"},
    ]
    groups = node("console.log(JSON.stringify(data.map(api.attention)))", rows)
    assert groups == ["needs", "needs", "needs", "working", "working", "done", "done", "done"]
    links = node(
        "console.log(JSON.stringify(data.map(api.safeUrl)))",
        ["https://github.com/o/r/pull/1", "javascript:alert(1)", "HTTP://x.example/", None, 7],
    )
    assert links == ["https://github.com/o/r/pull/1", None, "HTTP://x.example/", None, None]


def test_usage_and_age_read_as_people_write_them() -> None:
    out = node(
        "console.log(JSON.stringify([api.usage(data[0]), api.usage(null), "
        "api.age('2026-01-01T00:00:00Z', Date.parse('2026-01-01T02:30:00Z'))]))",
        [{"input_tokens": 12000, "output_tokens": 345, "cost_usd": 0.0412}],
    )
    assert out == ["12.3k tokens · $0.04", "", "2h"]


def test_the_page_loads_nothing_from_elsewhere() -> None:
    """No address of another site in the page's own files (the CSP would refuse it)."""
    for path in API_JS.parent.glob("*.*"):
        text = path.read_text().replace("https?:\\/\\/", "")  # safeUrl's own pattern
        assert not re.search(r"https?://", text), path
