"""A fake SCM plugin for lifecycle tests, installed through a real entry point.

Its forge is a JSON file (``$AO_FAKE_SCM_STATE``) that tests edit: ``{"prs": {branch:
PrState fields}, "merges": [...], "calls": N}``. Registered as ``ao.scm: fake`` by the
dist-info next to it, so ao loads it exactly like a third-party plugin.
"""

from __future__ import annotations

import json
import os
import typing as t
from collections.abc import Mapping, Sequence
from pathlib import Path

from ao.sdk.contracts import API_VERSION, Check, PrState, ReviewComment
from ao.sdk.errors import AoError


class FakeScm:
    api_version = API_VERSION

    def __init__(self, options: Mapping[str, t.Any] | None = None) -> None:
        self.path = Path(os.environ["AO_FAKE_SCM_STATE"])

    def _load(self) -> dict[str, t.Any]:
        return json.loads(self.path.read_text()) if self.path.exists() else {"prs": {}}

    def _save(self, state: dict[str, t.Any]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.path)

    def pr_states(self, repo: str, branches: Sequence[str]) -> dict[str, PrState]:
        state = self._load()
        state["calls"] = state.get("calls", 0) + 1
        self._save(state)
        out = {}
        for branch in branches:
            raw = state["prs"].get(branch)
            if raw is None:
                continue
            out[branch] = PrState(
                number=raw["number"],
                url=raw.get("url", f"https://forge.test/pr/{raw['number']}"),
                state=raw.get("state", "open"),
                head_sha=raw.get("head_sha", "sha1"),
                draft=raw.get("draft", False),
                checks=tuple(Check(**c) for c in raw.get("checks", [])),
                review_decision=raw.get("review_decision", "none"),
                comments=tuple(ReviewComment(**c) for c in raw.get("comments", [])),
                mergeable=raw.get("mergeable"),
                conflicts=raw.get("conflicts", False),
                labels=tuple(raw.get("labels", [])),
            )
        return out

    def merge(self, repo: str, pr: PrState, strategy: str) -> None:
        state = self._load()
        if state.get("refuse_merge"):
            raise AoError(f"merge of #{pr.number} refused: {state['refuse_merge']}")
        state.setdefault("merges", []).append({"number": pr.number, "strategy": strategy})
        for raw in state["prs"].values():
            if raw["number"] == pr.number:
                raw["state"] = "merged"
        self._save(state)
