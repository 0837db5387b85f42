"""The typed session record: parse once, write back exactly, keep what this ao does not know."""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing as t
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ao.lifecycle.machine import STATUSES as MACHINE_STATUSES
from ao.store import diagnostics, kvfile, record
from ao.store.handles import NAME_KEY, TARGET_KEY
from ao.store.paths import ProjectPaths
from ao.store.record import (
    ENDED_STATUSES,
    STATUSES,
    Bookkeeping,
    Changes,
    SessionRecord,
    Status,
    Step,
    apply,
    parse,
    to_kv,
)
from ao.store.state import SessionStore

KNOWN = {
    "id", "schema", "project", "agent", "runtime", "workspace", "task", "status",
    "status_since", "status_reason", "step", "spawner_pid", "prompt_delivery", "error",
    "restore_error", "branch_requested", "base_requested", "host_requested", "role", "branch", "base", "worktree", "created_branch",
    "port_block", NAME_KEY, TARGET_KEY, "pr", "pr_number", "pr_head", "issue", "issue_url",
    "issue_title", "worktree_removed", "snapshot", "saved", "created_at", "updated_at",
    "restored_at", "repaired_at", "stopped_at", "archived_at",
}  # fmt: skip
BOOK_SUFFIXES = ("sig", "n", "first", "last", "esc")


def _is_book_key(key: str) -> bool:
    stem, _, suffix = key.removeprefix("rx_").rpartition("_")
    return key.startswith("rx_") and bool(stem) and suffix in BOOK_SUFFIXES


# ----------------------------------------------------------------------------- strategies

keys = st.from_regex(kvfile.KEY_RE, fullmatch=True)
unknown_keys = keys.filter(lambda k: k not in KNOWN and not _is_book_key(k))
stems = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)
times = st.datetimes(timezones=st.just(dt.UTC)).map(lambda d: d.astimezone(dt.UTC))
seconds = st.integers(0, 10**13).map(lambda n: n / 1000)  # what `%.3f` spells exactly
counts = st.integers(0, 2**63)
paths = (
    st.lists(st.text(min_size=1).filter(lambda s: "/" not in s and s != "."), min_size=1)
    .map(lambda parts: "/" + "/".join(parts))
    .filter(lambda s: str(Path(s)) == s)
    .map(Path)
)
books = st.builds(
    Bookkeeping,
    signature=st.none() | st.text(),
    attempts=st.none() | counts,
    first_at=st.none() | seconds,
    last_at=st.none() | seconds,
    escalated=st.none() | st.text(),
).filter(lambda b: any(v is not None for v in b))


def _optional(strategy: st.SearchStrategy[t.Any]) -> st.SearchStrategy[t.Any]:
    return st.none() | strategy


def _field_strategy(field: dataclasses.Field[t.Any]) -> st.SearchStrategy[t.Any]:
    kind = str(field.type)
    if "Status" in kind:
        return _optional(st.sampled_from(Status))
    if "Step" in kind:
        return _optional(st.sampled_from(Step))
    if "datetime" in kind:
        return _optional(times)
    if "bool" in kind:
        return _optional(st.booleans())
    if "int" in kind:
        return _optional(counts)
    if "Path" in kind:
        return _optional(paths)
    return _optional(st.text())


_TYPED = [
    f for f in dataclasses.fields(SessionRecord) if f.init and f.name not in ("reactions", "extra")
]
records = st.builds(
    SessionRecord,
    **{f.name: _field_strategy(f) for f in _TYPED if f.name not in ("id", "schema")},
    id=st.text(),
    schema=st.none() | counts,
    reactions=st.dictionaries(stems, books, max_size=3),
    extra=st.dictionaries(unknown_keys, st.text(), max_size=4),
)


SPELLINGS: dict[str, st.SearchStrategy[str]] = {
    "schema": counts.map(str),
    "status": st.sampled_from([s.value for s in Status]),
    "step": st.sampled_from([s.value for s in Step]),
    "spawner_pid": counts.map(str),
    "port_block": counts.map(str),
    "pr_number": counts.map(str),
    "created_branch": st.sampled_from(["1", "0"]),
    "worktree_removed": st.sampled_from(["1", "0"]),
    "worktree": paths.map(str),
    "saved": paths.map(str),
    **{k: times.map(record.timestamp) for k in KNOWN if k.endswith(("_at", "_since"))},
}
BOOK_SPELLINGS = {
    "sig": st.text(),
    "n": counts.map(str),
    "first": seconds.map(lambda v: f"{v:.3f}"),
    "last": seconds.map(lambda v: f"{v:.3f}"),
    "esc": st.text(),
}


def _canonical_kv() -> st.SearchStrategy[dict[str, str]]:
    """Records as ao writes them: every known key in ao's spelling (text fields take
    any text), reactions' bookkeeping, and keys this ao does not know."""
    known = st.fixed_dictionaries(
        {"id": st.text()},
        optional={k: SPELLINGS.get(k, st.text()) for k in sorted(KNOWN - {"id"})},
    )
    book = st.fixed_dictionaries({}, optional=BOOK_SPELLINGS)
    rx = st.dictionaries(stems, book, max_size=3).map(
        lambda found: {f"rx_{stem}_{k}": v for stem, b in found.items() for k, v in b.items()}
    )
    extra = st.dictionaries(unknown_keys, st.text(), max_size=4)
    return st.tuples(known, rx, extra).map(lambda parts: {**parts[2], **parts[1], **parts[0]})


# ----------------------------------------------------------------------------- round trips


@settings(max_examples=400, deadline=None)
@given(records)
def test_every_typed_record_round_trips_through_its_key_value_form(rec: SessionRecord) -> None:
    kv = to_kv(rec)
    assert parse(kv) == rec
    # and through the file itself (escapes included)
    assert parse(kvfile.loads(kvfile.dumps(kv))) == rec


@settings(max_examples=400, deadline=None)
@given(_canonical_kv())
def test_what_ao_writes_round_trips_exactly_key_for_key(kv: dict[str, str]) -> None:
    parsed = parse(kv)
    assert to_kv(parsed) == kv
    assert dict(parsed.as_kv()) == kv  # what agents receive is the file as written


@settings(max_examples=400, deadline=None)
@given(
    st.dictionaries(
        keys | st.sampled_from(sorted(KNOWN)) | stems.map(lambda s: f"rx_{s}_last"),
        st.text()
        | st.sampled_from(
            ["1", "0", "007", "abc", "", "2024-01-01T00:00:00+02:00", "9999-12-31T23:59:59-05:00"]
        ),
    )
)
def test_any_record_keeps_every_key_and_every_value_it_cannot_read(kv: dict[str, str]) -> None:
    """Nothing in a file is lost: values a field cannot hold stay verbatim in ``extra``;
    values it can hold in another spelling keep their meaning."""
    kv = {"id": "s-1", **kv}
    parsed = parse(kv)
    written = to_kv(parsed)
    assert written.keys() == kv.keys()
    for key, value in kv.items():
        if key in parsed.extra:
            assert written[key] == value
    assert parse(written) == parsed  # a second write changes nothing


# ----------------------------------------------------------------------------- the model


def test_the_changes_type_lists_every_field_with_its_type() -> None:
    """``Changes`` (what ``update`` takes) mirrors ``SessionRecord`` field for field."""
    fields = {f.name: f.type for f in dataclasses.fields(SessionRecord) if f.init}
    hints = {k: v.__forward_arg__ for k, v in Changes.__annotations__.items()}
    assert hints == {k: v for k, v in fields.items() if k not in ("id", "schema")}


def test_these_tests_know_every_key_of_the_record() -> None:
    assert {key for key, _ in record._FIELDS.values()} == KNOWN


def test_the_status_set_is_defined_once() -> None:
    assert tuple(Status) == STATUSES and MACHINE_STATUSES is STATUSES
    assert set(ENDED_STATUSES) <= set(STATUSES)
    assert [s.value for s in Status][:3] == ["queued", "spawning", "working"]


def test_fields_have_real_types() -> None:
    rec = parse(
        {
            "id": "d-1", "status": "working", "step": "workspace-creating",
            "created_at": "2026-01-02T03:04:05Z", "created_branch": "1", "worktree_removed": "0",
            "port_block": "3", "spawner_pid": "4242", "pr_number": "17", "worktree": "/w/d-1",
            NAME_KEY: "h-d-1", TARGET_KEY: "%3", "rx_ci_failed_n": "2",
            "rx_ci_failed_last": "1700000000.500", "native_session_id": "abc",
        }
    )  # fmt: skip
    assert rec.status is Status.WORKING and rec.step is Step.WORKSPACE_CREATING
    assert rec.created_at == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert (rec.created_branch, rec.worktree_removed) == (True, False)
    assert (rec.port_block, rec.spawner_pid, rec.pr_number) == (3, 4242, 17)
    assert rec.worktree == Path("/w/d-1")
    assert (rec.runtime_name, rec.runtime_target) == ("h-d-1", "%3")
    assert rec.reactions == {"ci_failed": Bookkeeping(attempts=2, last_at=1700000000.5)}
    assert rec.extra == {"native_session_id": "abc"}
    assert (rec.schema, rec.version) == (None, 1)  # no `schema=`: version 1


def test_apply_merges_extra_and_reactions_key_by_key() -> None:
    rec = parse({"schema": "1", "id": "d-1", "a": "1", "b": "2", "rx_x_n": "1", "rx_y_n": "2"})
    changed = apply(
        rec,
        {
            "status": Status.READY,
            "error": None,
            "extra": {"a": "one", "c": "3", "port_block": "5"},
            "reactions": {"x": Bookkeeping(attempts=4), "z": Bookkeeping(signature="s")},
        },
    )
    assert to_kv(changed) == {
        "schema": "1", "id": "d-1", "status": "ready", "a": "one", "b": "2", "c": "3",
        "port_block": "5", "rx_x_n": "4", "rx_y_n": "2", "rx_z_sig": "s",
    }  # fmt: skip
    assert changed.port_block == 5  # a known key an adapter writes gets its type


# ----------------------------------------------------------------------------- malformed values


@pytest.fixture
def warnings_seen() -> t.Iterator[list[str]]:
    seen: list[str] = []
    diagnostics.set_sink(seen.append)
    yield seen
    diagnostics.set_sink(None)


def test_a_malformed_value_is_kept_as_written_and_warned_about(
    tmp_path: Path, warnings_seen: list[str]
) -> None:
    store = SessionStore(ProjectPaths(tmp_path / "agent-orchestrator.yaml", "demo"))
    sid = store.reserve("d", status=Status.WORKING)
    path = store.paths.sessions / sid
    path.write_text(
        path.read_text() + "port_block=abc\nstatus_since=yesterday\nrx_ci_failed_last=soon\n"
    )
    (listed,) = store.list()  # the session does not vanish
    assert listed.port_block is None and listed.status_since is None
    assert listed.reactions == {}
    assert listed.extra == {
        "port_block": "abc", "status_since": "yesterday", "rx_ci_failed_last": "soon"
    }  # fmt: skip
    assert len(warnings_seen) == 3 and all(str(path) in w for w in warnings_seen)
    assert "port_block='abc' is not a whole number" in warnings_seen[0]

    store.update(sid, status=Status.READY)  # another field: the raw values stay
    text = path.read_text()
    assert "port_block=abc\n" in text and "status_since=yesterday\n" in text
    store.update(sid, port_block=2, status_since=None)  # the field itself: replaced, removed
    text = path.read_text()
    assert "port_block=2\n" in text and "status_since" not in text
    assert "rx_ci_failed_last=soon\n" in text


# ----------------------------------------------------------------------------- the store


def _store(tmp_path: Path) -> SessionStore:
    return SessionStore(ProjectPaths(tmp_path / "agent-orchestrator.yaml", "demo"))


FUTURE = "future_key=from a newer ao\nnative_session_id=abc-123\nrx_custom_thing_sig=xyz\n"


def test_unknown_keys_survive_update_archive_and_unarchive(tmp_path: Path) -> None:
    store = _store(tmp_path)
    sid = store.reserve("d", status=Status.WORKING, extra={"agent_home": "/h"})
    path = store.paths.sessions / sid
    path.write_text(path.read_text() + FUTURE + "rx_other_weird=1\n")

    updated = store.update(sid, status=Status.READY, error="x")
    assert updated.extra == {
        "agent_home": "/h", "future_key": "from a newer ao", "native_session_id": "abc-123",
        "rx_other_weird": "1",
    }  # fmt: skip
    assert updated.reactions == {"custom_thing": Bookkeeping(signature="xyz")}
    # agents get them back as the flat mapping they wrote
    assert updated.as_kv()["native_session_id"] == "abc-123"
    assert store.read(sid).as_kv() == kvfile.loads(path.read_text())
    for line in [*FUTURE.splitlines(), "rx_other_weird=1", "agent_home=/h"]:
        assert f"{line}\n" in path.read_text()

    archived = store.archive(sid, status=Status.KILLED)
    assert "future_key=from a newer ao\n" in archived.read_text()
    back = store.unarchive(archived, status=Status.SPAWNING)
    assert back.extra["future_key"] == "from a newer ao" and back.archived_at is None
    assert "future_key=from a newer ao\n" in path.read_text()


def test_a_newer_schema_is_kept_and_a_missing_one_reads_as_version_1(tmp_path: Path) -> None:
    store = _store(tmp_path)
    newer = store.paths.sessions / "d-1"
    older = store.paths.sessions / "d-2"
    store.paths.sessions.mkdir(parents=True)
    newer.write_text("schema=2\nid=d-1\nstatus=working\nlayout=v2-only\n")
    older.write_text("id=d-2\nstatus=working\n")
    assert [s.version for s in store.list()] == [2, 1]

    store.update("d-1", status=Status.READY)
    assert kvfile.loads(newer.read_text())["schema"] == "2"  # never lowered
    assert "layout=v2-only\n" in newer.read_text()
    store.update("d-2", status=Status.READY)
    assert kvfile.loads(older.read_text())["schema"] == str(record.SCHEMA)


def test_update_writes_types_in_one_spelling(tmp_path: Path) -> None:
    store = _store(tmp_path)
    sid = store.reserve("d", status=Status.SPAWNING, spawner_pid=12, created_branch=False)
    when = dt.datetime(2026, 5, 6, 7, 8, 9, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    store.update(
        sid,
        status_since=when,
        worktree=Path("/w/x"),
        reactions={"ci_failed": Bookkeeping(attempts=1, first_at=5.0)},
    )
    kv = kvfile.loads((store.paths.sessions / sid).read_text())
    assert kv["status"] == "spawning" and kv["spawner_pid"] == "12"
    assert kv["created_branch"] == "0" and kv["status_since"] == "2026-05-06T05:08:09Z"
    assert kv["worktree"] == "/w/x" and kv["rx_ci_failed_n"] == "1"
    assert kv["rx_ci_failed_first"] == "5.000" and kv["updated_at"].endswith("Z")
    assert "rx_ci_failed_last" not in kv
