"""The typed per-request context resolvers receive."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from strawberry.types import Info as StrawberryInfo

from dr_assets.core.catalog import Catalog
from dr_assets.core.policy import DRConfig
from dr_assets.core.tokens import Principal
from graphql_api.state import ApiState


@dataclass
class Context:
    state: ApiState
    principal: Principal
    now: datetime
    request: Any = None
    response: Any = None

    @property
    def catalog(self) -> Catalog:
        return self.state.runtime.catalog

    @property
    def config(self) -> DRConfig:
        return self.state.runtime.config

    def audit(self, action: str, arguments: dict[str, Any], result: str,
              detail: str | None = None) -> None:
        self.catalog.audit(self.principal.subject, self.principal.role, action, arguments,
                           result, detail)


def new_context(state: ApiState, principal: Principal, request: Any = None,
                response: Any = None) -> Context:
    return Context(state=state, principal=principal, now=datetime.now(UTC), request=request,
                   response=response)


Info = StrawberryInfo[Context, None]
