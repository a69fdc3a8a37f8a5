"""The schema: Query composed from the domain query types, and the Mutation type."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.exceptions import StrawberryGraphQLError
from strawberry.extensions import (
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.types import ExecutionContext

from dr_assets.core.errors import DRError
from graphql_api.activity.queries import ActivityQueries
from graphql_api.backups.queries import BackupQueries
from graphql_api.compliance.queries import ComplianceQueries
from graphql_api.context import Info
from graphql_api.cost import QueryCost
from graphql_api.dashboard.queries import DashboardQueries
from graphql_api.introspection import AnonymousIntrospectionGate
from graphql_api.operations.mutations import Mutation, run_status
from graphql_api.operations.types import RunResult
from graphql_api.status.queries import StatusQueries
from graphql_api.workers import off_the_loop

EXPECTED = (GraphQLError, StrawberryGraphQLError, DRError)
MAX_DEPTH = 6  # the deepest legitimate query (backups.edges.node.copies) is 4
MAX_TOKENS = 2000
MAX_ALIASES = 30
DOCUMENT_CACHE_SIZE = 256  # parsed and validated documents kept (dashboards send a few)
UNEXPECTED = ("internal error: the API logged it; this answer does not say more (an "
              "unexpected error's text can name SQL, hosts or paths)")


def unexpected(error: GraphQLError) -> bool:
    """An error that is neither a refusal nor bad input: a bug or a failing dependency."""
    return error.original_error is not None and not isinstance(error.original_error, EXPECTED)


@strawberry.type
class Query(StatusQueries, BackupQueries, ActivityQueries, DashboardQueries, ComplianceQueries):
    @strawberry.field(description="Status of a Dagster run (viewer).")
    def run(self, info: Info, id: str) -> RunResult:
        return run_status(info, id)


class DRSchema(strawberry.Schema):
    """Logs unexpected errors only: refusals and bad input are answers, not incidents."""

    def process_errors(self, errors: list[GraphQLError],
                       execution_context: ExecutionContext | None = None) -> None:
        logged = [e for e in errors if unexpected(e)]
        if logged:
            super().process_errors(logged, execution_context)


off_the_loop(Query, Mutation)  # root fields wait on the catalog, stores or Dagster
schema = DRSchema(
    query=Query,
    mutation=Mutation,
    extensions=[
        ParserCache(maxsize=DOCUMENT_CACHE_SIZE),  # type: ignore[list-item]
        ValidationCache(maxsize=DOCUMENT_CACHE_SIZE),  # type: ignore[list-item]
        AnonymousIntrospectionGate,  # after ValidationCache: it adds to its errors
        QueryDepthLimiter(max_depth=MAX_DEPTH),  # type: ignore[list-item]
        MaxTokensLimiter(max_token_count=MAX_TOKENS),  # type: ignore[list-item]
        MaxAliasesLimiter(max_alias_count=MAX_ALIASES),  # type: ignore[list-item]
        QueryCost,  # bounds of Int arguments, and the cost limit
        # Last: the answer says an unexpected error happened, never its text (logged above).
        MaskErrors(should_mask_error=unexpected, error_message=UNEXPECTED),  # type: ignore[list-item]
    ],
)
