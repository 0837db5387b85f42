"""Every registered plugin of every slot against its slot's contract (``ao.sdk.conformance``).

Also: the checker finds what it should (a checker that finds nothing proves nothing), the
registry refuses a plugin that breaks its slot's Protocol, and the core never probes a
plugin for a member by name (``getattr``/``hasattr``): it asks the declared capability.
"""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
import typing as t
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from ao import registry
from ao.sdk import conformance, contracts
from ao.sdk.contracts import (
    API_VERSION,
    CAPABILITIES,
    SLOT_PROTOCOLS,
    SLOTS,
    Activity,
    DialogAnswer,
    DialogAnswering,
    Evidence,
    Interruptible,
    LaunchContext,
    LaunchSpec,
    Observation,
    Resumable,
)
from ao.sdk.errors import PluginError

ROOT = Path(__file__).resolve().parent.parent

# built-ins that need options to start (no network at construction)
OPTIONS: dict[tuple[str, str], dict[str, t.Any]] = {
    ("notifier", "slack"): {"url": "https://example.invalid/hook"},
    ("notifier", "discord"): {"url": "https://example.invalid/hook"},
    ("notifier", "webhook"): {"url": "https://example.invalid/hook"},
    ("notifier", "ntfy"): {"topic": "ao-test"},
    ("notifier", "composio"): {"app": "slack", "channel": "C0123"},
}

# what each built-in can do beyond its slot: removing a method would make the core skip
# the feature silently, so the list is pinned here
BUILTIN_CAPABILITIES: dict[tuple[str, str], set[str]] = {
    **{
        ("agent", name): {"Resumable", "Interruptible", "DialogAnswering", "SessionInfoReader",
                          "Versioned", "AuthReporting", "SelfTestable"}
        for name in ("aider",)
    },
    **{
        ("agent", name): {"Resumable", "Interruptible", "DialogAnswering", "SessionInfoReader",
                          "Versioned", "AuthReporting", "SelfTestable", "McpClient"}
        for name in ("claude-code", "codex", "gemini")
    },
    ("agent", "pi"): {"Resumable", "Interruptible", "SessionInfoReader", "Versioned",
                      "AuthReporting", "SelfTestable"},
    ("agent", "opencode"): {"Resumable", "Interruptible", "MenuAnswering", "SessionInfoReader",
                            "Versioned", "AuthReporting", "SelfTestable"},
    ("agent", "cursor"): {"Resumable", "DialogAnswering", "SessionInfoReader", "Versioned",
                          "AuthReporting"},
    ("agent", "kimicode"): {"Resumable", "Interruptible", "MenuAnswering", "SessionInfoReader",
                            "Versioned", "AuthReporting", "McpClient", "SelfTestable"},
    ("agent", "shell"): {"Interruptible"},
    **{("workspace", n): {"SetsAside"} for n in ("worktree", "clone")},
    **{("tracker", n): {"IssuePrompting", "IssueListing", "IssueUpdating"}
       for n in ("github", "gitlab", "linear")},
    **{("scm", n): {"PrOpening"} for n in ("github", "gitlab")},
    ("runtime", "docker"): {"Isolating"},
    ("runtime", "ssh"): {"Isolating", "Placing", "Copying"},
    **{("runtime", n): set() for n in ("tmux", "process")},
}  # fmt: skip


def registered() -> list[tuple[str, str]]:
    return [(slot, name) for slot in SLOTS for name in sorted(registry.available(slot))]


def test_every_slot_has_built_in_plugins_registered() -> None:
    found = {slot for slot, _ in registered()}
    assert found == set(SLOTS)
    assert len(registered()) >= 20


@pytest.mark.parametrize(("slot", "name"), registered())
def test_registered_plugin_passes_its_slots_contract(slot: str, name: str) -> None:
    cls = registry.load_class(slot, name)
    assert getattr(cls, "api_version", None) == API_VERSION
    assert conformance.problems(slot, cls) == []
    plugin = registry.load(slot, name, OPTIONS.get((slot, name), {}))
    assert isinstance(plugin, SLOT_PROTOCOLS[slot])
    assert conformance.problems(slot, plugin) == []
    if (slot, name) in BUILTIN_CAPABILITIES:
        assert set(conformance.capabilities(slot, plugin)) == BUILTIN_CAPABILITIES[slot, name]
    for capability in CAPABILITIES[slot]:
        # the core's isinstance agrees with the checker: declared means present
        assert isinstance(plugin, capability) == conformance.has_capability(plugin, capability)


def test_the_tables_cover_every_slot_and_only_runtime_checkable_protocols() -> None:
    assert t.get_args(contracts.Slot) == SLOTS
    assert list(SLOT_PROTOCOLS) == list(SLOTS) == list(CAPABILITIES)
    for protocol in [*SLOT_PROTOCOLS.values(), *(c for cs in CAPABILITIES.values() for c in cs)]:
        assert getattr(protocol, "_is_runtime_protocol", False), protocol
        assert conformance.members(protocol), protocol


def test_the_old_details_protocols_still_name_the_capabilities() -> None:
    assert set(conformance.members(contracts.AgentDetails)) == {
        "version", "auth", "dialog", "session_info", "resume"
    }  # fmt: skip
    assert "issue_prompt" in conformance.members(contracts.TrackerDetails)
    assert conformance.members(contracts.ScmDetails) == ("open_pr",)


# ----------------------------------------------------------------------------- the checker


class GoodAgent:
    api_version = API_VERSION

    def __init__(self, options: Mapping[str, t.Any] | None = None) -> None:
        self.binary = "sh"

    def launch(self, ctx: LaunchContext) -> LaunchSpec:
        return LaunchSpec(["sh"])

    def activity(self, obs: Observation) -> Activity:
        return Activity("ready", Evidence("screen", "ok"))

    def settle_delay(self) -> float:
        return 0.1

    def dialog(self, text: str, extra: int = 0) -> DialogAnswer | None:  # names are free
        return None


def test_a_conforming_plugin_has_no_problems() -> None:
    assert conformance.problems("agent", GoodAgent) == []
    assert conformance.problems("agent", GoodAgent()) == []
    assert conformance.capabilities("agent", GoodAgent()) == ["DialogAnswering"]


def test_wrong_api_version_and_missing_members_are_problems() -> None:
    class Old(GoodAgent):
        api_version = 0

    class NoBinary(GoodAgent):
        def __init__(self, options: Mapping[str, t.Any] | None = None) -> None:
            pass

    assert conformance.problems("agent", Old) == ["api_version is 0, not 1"]
    assert conformance.problems("agent", NoBinary) == []  # attributes show on instances
    assert conformance.problems("agent", NoBinary()) == ["Agent: no attribute 'binary'"]
    assert conformance.missing_members(NoBinary(), contracts.Agent) == ["binary"]

    class NoNotify:
        api_version = API_VERSION

    assert conformance.problems("notifier", NoNotify) == ["Notifier: no method notify()"]
    assert conformance.problems("bogus", NoNotify)[0].startswith("unknown slot")


def test_signatures_are_compared_the_way_the_core_calls() -> None:
    class Short(GoodAgent):
        def launch(self) -> LaunchSpec:  # type: ignore[override]
            return LaunchSpec(["sh"])

    class Needy(GoodAgent):
        def settle_delay(self, when: float) -> float:  # type: ignore[override]
            return when

    class Flexible(GoodAgent):
        def launch(self, *args: t.Any, **kw: t.Any) -> LaunchSpec:
            return LaunchSpec(["sh"])

    assert conformance.problems("agent", Short) == [
        "Agent.launch: takes no positional parameter 1 (ctx: 'LaunchContext')"
    ]
    assert conformance.problems("agent", Needy()) == [
        "Agent.settle_delay: extra parameter 'when' needs a default"
    ]
    assert conformance.problems("agent", Flexible) == []

    class Destroyer:  # workspace.destroy(repo, info, *, force=False)
        api_version = API_VERSION

        def create(self, req: t.Any) -> t.Any: ...
        def status(self, repo: t.Any, info: t.Any) -> t.Any: ...
        def destroy(self, repo: t.Any, info: t.Any) -> None: ...
        def snapshot(self, repo: t.Any, info: t.Any, message: str) -> None: ...
        def restore(self, req: t.Any) -> t.Any: ...
        def list(self, repo: t.Any) -> list[t.Any]: ...

    class ForceWithoutDefault(Destroyer):
        def destroy(self, repo: t.Any, info: t.Any, *, force: bool) -> None: ...

    assert conformance.problems("workspace", Destroyer) == [
        "Workspace.destroy: takes no keyword parameter 'force'"
    ]
    assert conformance.problems("workspace", ForceWithoutDefault) == [
        "Workspace.destroy: keyword parameter 'force' needs a default"
    ]

    class Tracked:
        api_version = API_VERSION

        def get_issue(self, project_repo: str, issue_id: str) -> t.Any: ...
        def branch_name(self, issue: t.Any) -> str: ...
        def issue_prompt(self, issue: t.Any, project_repo: str) -> str: ...  # no default

    assert conformance.problems("tracker", Tracked) == [
        "IssuePrompting.issue_prompt: parameter 'project_repo' needs a default "
        "(like project_repo: 'str' = '')"
    ]


def test_capabilities_must_be_whole_and_declared_ones_real() -> None:
    class HalfUpdating:
        api_version = API_VERSION

        def get_issue(self, project_repo: str, issue_id: str) -> t.Any: ...
        def branch_name(self, issue: t.Any) -> str: ...
        def comment(self, project_repo: str, issue_id: str, body: str) -> None: ...

    [problem] = conformance.problems("tracker", HalfUpdating)
    assert problem == "IssueUpdating: has comment but not add_labels, close, is_completed"

    class Declared(GoodAgent, Interruptible, Resumable):  # says so, has neither
        pass

    plugin = Declared()
    assert isinstance(plugin, Interruptible)  # what the core would believe
    assert conformance.problems("agent", plugin) == [
        "Resumable: no method resume()",
        "Interruptible: no attribute 'interrupt_keys'",
    ]
    assert isinstance(GoodAgent(), DialogAnswering)
    assert not isinstance(GoodAgent(), Resumable)


# ----------------------------------------------------------------------------- registry


@pytest.fixture
def broken_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A distribution on sys.path registering agents that break the contract."""
    site = tmp_path / "site"
    (site / "ao_broken-0.1.dist-info").mkdir(parents=True)
    (site / "ao_broken-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: ao-broken\nVersion: 0.1\n"
    )
    (site / "ao_broken-0.1.dist-info" / "entry_points.txt").write_text(
        "[ao.agent]\nno-activity = ao_broken:NoActivity\nold = ao_broken:Old\n"
        "stub = ao_broken:Stub\n"
    )
    (site / "ao_broken.py").write_text(
        textwrap.dedent(
            """
            from ao.sdk.contracts import Agent

            class Old:
                api_version = 0

            class NoActivity:
                api_version = 1
                binary = "sh"

                def __init__(self, options):
                    pass

                def launch(self, ctx):
                    return None

                def settle_delay(self):
                    return 0.1

            class Stub(NoActivity, Agent):  # inherits the Protocol's empty activity()
                pass
            """
        )
    )
    monkeypatch.syspath_prepend(str(site))
    registry.refresh()
    yield site
    registry.refresh()
    sys.modules.pop("ao_broken", None)


def test_registry_refuses_a_plugin_that_breaks_its_slots_protocol(broken_plugins: Path) -> None:
    assert {"no-activity", "old"} <= set(registry.available("agent"))
    with pytest.raises(PluginError, match=r"does not implement the agent contract \(no activity\)"):
        registry.load("agent", "no-activity")
    with pytest.raises(PluginError, match="implements API version 0; ao needs 1"):
        registry.load("agent", "old")
    with pytest.raises(PluginError, match=r"\(no activity\)"):
        registry.load("agent", "stub")


# ----------------------------------------------------------------------------- no probes

# `getattr`/`hasattr` calls in the core that are not on plugins: file -> (substring, why)
NOT_ON_PLUGINS: dict[str, list[tuple[str, str]]] = {
    "ao/registry.py": [
        ("obj = getattr(obj, part)", "resolves the entry point's `module:attr.path`"),
        ('version = getattr(obj, "api_version", None)', "the loader's own version check"),
    ],
    "ao/sdk/conformance.py": [
        ("hasattr(", "the checker itself"),
        ("getattr(", "the checker itself"),
    ],
    "ao/config/loader.py": [
        ('getattr(yaml, "CSafeLoader"', "libyaml when present"),
        ("getattr(model.defaults, slot)", "config defaults per slot"),
    ],
    "ao/config/edit.py": [('getattr(k, "value", None)', "ruamel YAML keys")],
    "ao/config/keys.py": [
        ('getattr(k, "value", None) == part', "PyYAML node keys"),
        ('getattr(val, "flow_style", False)', "PyYAML collection nodes"),
    ],
    "ao/config/snapshot.py": [('getattr(value, "model_dump", None)', "pydantic models")],
    "ao/lifecycle/passes.py": [('getattr(exc, "message", exc)', "an exception's message")],
    "ao/mcp/server.py": [("fn = getattr(tools, name)", "its own tool methods, by catalog name")],
}
# probes that the front-ends' rewrite removes (ao/cli, ao/api are another change's)
ELSEWHERE = ("ao/cli/", "ao/completion/", "ao/api/")


def test_the_core_never_probes_plugins_by_member_name() -> None:
    probes, used = [], set()
    for path in sorted((ROOT / "ao").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(ELSEWHERE):
            continue
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            if node.func.id not in ("getattr", "hasattr"):
                continue
            line = lines[node.lineno - 1]
            allowed = [s for s, _ in NOT_ON_PLUGINS.get(rel, []) if s in line]
            used.update((rel, s) for s in allowed)
            if not allowed:
                probes.append(f"{rel}:{node.lineno}: {line.strip()}")
    assert probes == [], "ask a declared capability (isinstance) instead:\n" + "\n".join(probes)
    stale = [(f, s) for f, xs in NOT_ON_PLUGINS.items() for s, _ in xs if (f, s) not in used]
    assert stale == [], f"allow-list entries that match nothing any more: {stale}"


def test_capability_protocols_have_the_signatures_the_core_calls() -> None:
    """The members the core calls, as the core calls them (pinned: a change here is a change
    of the plugin API and needs API_VERSION to move)."""
    calls = {
        contracts.Resumable: ("resume", ["ctx", "session"]),
        contracts.MenuAnswering: ("answer_keys", ["screen", "text"]),
        contracts.DialogAnswering: ("dialog", ["screen"]),
        contracts.SessionInfoReader: ("session_info", ["session"]),
        contracts.Versioned: ("version", []),
        contracts.AuthReporting: ("auth", []),
        contracts.SelfTestable: ("selftest_env", ["model_url", "home"]),
        contracts.SetsAside: ("set_aside", ["repo", "info", "dest"]),
        contracts.IssuePrompting: ("issue_prompt", ["issue", "project_repo"]),
        contracts.McpClient: ("with_mcp", ["ctx", "spec", "servers"]),
        contracts.Isolating: ("local_runtime", []),
        contracts.Placing: ("places", []),
        contracts.Copying: ("sync_copy", ["handle"]),
    }
    for protocol, (method, params) in calls.items():
        sig = inspect.signature(getattr(protocol, method))
        assert list(sig.parameters)[1:] == params, protocol
    assert conformance.members(contracts.Interruptible) == ("interrupt_keys",)
