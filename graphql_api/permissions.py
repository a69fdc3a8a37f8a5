"""Role checks for queries: viewer < operator < admin (mutations answer NotAllowed instead)."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission

from graphql_api.context import Info


class _RoleAtLeast(BasePermission):
    role = "viewer"

    @property
    def message(self) -> str:  # type: ignore[override]
        return f"not allowed: this field needs the {self.role} role (send a bearer token)"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return bool(info.context.principal.allows(self.role))


class IsViewer(_RoleAtLeast):
    role = "viewer"


class IsAdmin(_RoleAtLeast):
    role = "admin"
