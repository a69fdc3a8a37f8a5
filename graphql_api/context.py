"""The typed per-request context resolvers receive."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from strawberry.dataloader import DataLoader
from strawberry.types import Info as StrawberryInfo

from dr_assets.core.access.tokens import Principal
from dr_assets.core.catalog import Catalog
from dr_assets.core.policy import DRConfig
from graphql_api.state import ApiState


@dataclass
class Context:
    state: ApiState
    principal: Principal
    now: datetime
    request: Any = None
    response: Any = None

    @cached_property
    def row_counts(self) -> DataLoader[str, dict[str, int] | None]:
        """Per-table row counts of the backups a query shows: one catalog query per request,
        and none when no backup's rowCounts is asked for."""

        async def load(backup_ids: list[str]) -> list[dict[str, int] | None]:
            found = await self.state.workers.run(self.catalog.row_counts, backup_ids)
            return [found.get(backup_id) for backup_id in backup_ids]

        return DataLoader(load_fn=load)

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
