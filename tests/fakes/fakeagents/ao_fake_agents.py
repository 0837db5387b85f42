"""Two fake agent adapters, registered through real entry points, for `ao agents` tests.

Both run `sh`; they differ only in what their auth probe reports.
"""

from __future__ import annotations

import typing as t
from collections.abc import Mapping

from ao_plugins.agent_shell import ShellAgent

from ao.sdk.contracts import API_VERSION, AuthState


class _Fake(ShellAgent):
    api_version = API_VERSION
    auth_kind: t.Literal["api-key", "subscription", "none"] = "none"

    def __init__(self, options: Mapping[str, t.Any] | None = None) -> None:
        super().__init__({"command": ["sh"]})

    def version(self) -> str:
        return "9.9.9"

    def auth(self) -> AuthState:
        return AuthState(self.auth_kind, f"fake {self.auth_kind}")


class ApiKeyAgent(_Fake):
    auth_kind = "api-key"


class SubscriptionAgent(_Fake):
    auth_kind = "subscription"
