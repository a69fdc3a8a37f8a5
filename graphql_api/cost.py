"""What an operation may ask for, checked on the parsed document before anything runs.

Depth, alias and token limits bound the document's shape, not the work behind it: 30
aliases of one public field, each a pass over the catalog, fit them all. Two checks close
that, in QueryCost (a schema extension whose `on_execute` answers instead of executing):

- **Bounds**: every Int argument of the schema has a range (BOUNDS; the `first` of a page
  is capped by `[api] max_page_size`). A value outside it is refused naming the field, the
  argument and the range, so no resolver sees a negative or a huge LIMIT.
- **Cost**: each field costs its work (WEIGHTS, in units where one catalog round trip is
  ROUND_TRIP and one object in the answer is 1) plus, for an object or a list, one unit
  per object and what is selected inside it; a `first` or `days` argument multiplies its
  field's subtree by its value, and every alias counts again. Lists whose length is the
  estate's (apps, stores, components) or capped by the server (alerts, recent activity)
  count as one: the limit bounds what the caller chooses, not the size of the estate the
  operator runs. An operation above `[api] max_query_cost` is refused with its cost and
  the limit.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInt,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    NamedTypeNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Undefined,
    get_named_type,
    get_operation_ast,
    type_from_ast,
    value_from_ast,
)
from strawberry.extensions import SchemaExtension

from dr_assets.core.health.timeline import MAX_TIMELINE_DAYS

ROUND_TRIP = 50  # one query of the catalog, in units of one object in the answer
INT_MAX = 2**31 - 1  # GraphQL's Int
PAGE = -1  # a bound's upper end that is `[api] max_page_size`
INTROSPECTION = 100  # __schema or __type, whatever is selected inside
SIZE_ARGUMENTS = ("first", "days")  # multiply the subtree of the field that takes them

# What resolving a field once costs beyond the objects it returns, in catalog round trips
# (a store listing or a Dagster call counts as two). Fields not named cost nothing extra.
WEIGHTS: Mapping[str, float] = {
    "Query.globalStatus": 3, "Query.apps": 3, "Query.app": 3,  # estate health + 2 queries
    "Query.healthCheck": 2,  # every store and Dagster, probed at most once per keep window
    "Query.backupTimeline": 1, "Query.backups": 2, "Query.backup": 1, "Query.restores": 1,
    "Query.drills": 1, "Query.alerts": 1, "Query.alertDeliveries": 1,
    "Query.recentActivity": 2, "Query.auditLog": 1,
    "Query.dashboardMetrics": 2, "Query.executiveSummary": 4, "Query.healthOverview": 1,
    "Query.storageUtilization": 1,
    "Query.complianceReport": 20,  # a period's evidence and the whole audit chain
    "Query.run": 2,  # Dagster
    "AppStatus.recoveryWindow": 2,  # the server's stores, listed
    # The estate forecast: five binned reads, shared by every app and kept a minute.
    "Query.storageForecast": 5, "AppStatus.forecast": 5,
    "Mutation.createBackup": 2, "Mutation.scheduleDrill": 2, "Mutation.restoreBackup": 2,
    "Mutation.restoreToPointInTime": 4, "Mutation.applyRetention": 2,
    "Mutation.acknowledgeAlert": 1, "Mutation.releaseBackupHold": 1,
}


@dataclass(frozen=True)
class Bound:
    low: int
    high: int  # PAGE: the configured page size

    def top(self, page: int) -> int:
        return page if self.high == PAGE else self.high


# Every Int argument of the schema (tests/security/test_cost_and_bounds.py checks none is
# missing).
BOUNDS: Mapping[str, Bound] = {
    "Query.backupTimeline.days": Bound(1, MAX_TIMELINE_DAYS),
    "Query.backups.first": Bound(1, PAGE),
    "Query.restores.first": Bound(1, PAGE),
    "Query.drills.first": Bound(1, PAGE),
    "Query.auditLog.first": Bound(1, PAGE),
    "Query.recentActivity.hours": Bound(1, 24 * 90),
    "Query.alertDeliveries.alertId": Bound(1, INT_MAX),
    "Mutation.acknowledgeAlert.id": Bound(1, INT_MAX),
}


class Refused(Exception):
    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.extensions = extensions


Selected = tuple[GraphQLObjectType | None, FieldNode, frozenset[str]]
UNLISTED = Bound(0, 0)  # an Int argument without a bound takes nothing but 0


@dataclass(frozen=True)
class Walk:
    """One operation of a document, with its variables, walked against the schema."""

    schema: GraphQLSchema
    fragments: Mapping[str, FragmentDefinitionNode]
    variables: dict[str, Any]
    page: int

    def cost(self, parent: GraphQLObjectType | None, selections: SelectionSetNode | None,
             seen: frozenset[str] = frozenset()) -> int:
        return sum(self.field_cost(item) for item in self.fields(parent, selections, seen))

    def fields(self, parent: GraphQLObjectType | None, selections: SelectionSetNode | None,
               seen: frozenset[str]) -> Iterator[Selected]:
        """Each field selected, fragments expanded (a union's members one after another)."""
        for node in selections.selections if selections else ():
            if isinstance(node, FieldNode):
                yield parent, node, seen
            elif isinstance(node, InlineFragmentNode):
                yield from self.fields(self.condition(parent, node.type_condition),
                                       node.selection_set, seen)
            elif isinstance(node, FragmentSpreadNode):
                name = node.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in seen:
                    yield from self.fields(self.condition(parent, fragment.type_condition),
                                           fragment.selection_set, seen | {name})

    def condition(self, parent: GraphQLObjectType | None, condition: NamedTypeNode | None
                  ) -> GraphQLObjectType | None:
        if condition is None:
            return parent
        named = self.schema.get_type(condition.name.value)
        return named if isinstance(named, GraphQLObjectType) else None

    def field_cost(self, item: Selected) -> int:
        parent, node, seen = item
        name = node.name.value
        if name in ("__schema", "__type"):
            return INTROSPECTION
        if parent is None or name not in parent.fields:
            return 0  # __typename, or a field validation refuses
        field = parent.fields[name]
        key = f"{parent.name}.{name}"
        self.check_bounds(key, field, node)
        own = round(WEIGHTS.get(key, 0) * ROUND_TRIP)
        inner = get_named_type(field.type)
        if not isinstance(inner, GraphQLObjectType | GraphQLUnionType):
            return own
        target = inner if isinstance(inner, GraphQLObjectType) else None
        return own + self.size(field, node) * (1 + self.cost(target, node.selection_set, seen))

    def argument(self, field: GraphQLField, node: FieldNode, name: str) -> Any:
        """The argument's value as given (a literal or a variable), else its default."""
        arg = field.args[name]
        for given in node.arguments or ():
            if given.name.value == name:
                value = value_from_ast(given.value, arg.type, self.variables)
                return None if value is Undefined else value
        return None if arg.default_value is Undefined else arg.default_value

    def size(self, field: GraphQLField, node: FieldNode) -> int:
        for name in SIZE_ARGUMENTS:
            value = self.argument(field, node, name) if name in field.args else None
            if isinstance(value, int) and value > 0:
                return value
        return 1

    def check_bounds(self, key: str, field: GraphQLField, node: FieldNode) -> None:
        for name, arg in field.args.items():
            if get_named_type(arg.type) is not GraphQLInt:
                continue
            bound = BOUNDS.get(f"{key}.{name}", UNLISTED)
            value = self.argument(field, node, name)
            top = bound.top(self.page)
            if isinstance(value, int) and not bound.low <= value <= top:
                raise Refused(f"{key.split('.', 1)[1]}: {name} must be between {bound.low} and "
                              f"{top}, got {value}", code="ARGUMENT_OUT_OF_RANGE",
                              argument=name, minimum=bound.low, maximum=top)


def operation_cost(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None = None,
                   variables: Mapping[str, Any] | None = None, page: int = 200) -> int | None:
    """The operation's cost; raises Refused when an argument is out of its bounds. None when
    the document names no such operation (execution answers that)."""
    operation = get_operation_ast(document, operation_name)
    if not isinstance(operation, OperationDefinitionNode):
        return None
    root = schema.get_root_type(operation.operation)
    fragments = {d.name.value: d for d in document.definitions
                 if isinstance(d, FragmentDefinitionNode)}
    given = dict(variables or {})
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if given.get(name) is None and definition.default_value is not None:
            type_ = type_from_ast(schema, definition.type)
            if type_ is not None:
                given[name] = value_from_ast(definition.default_value, type_)  # type: ignore[arg-type]
    return Walk(schema, fragments, given, page).cost(root, operation.selection_set)


def refusal(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None,
            variables: Mapping[str, Any] | None, limit: int, page: int) -> GraphQLError | None:
    """The error that answers the operation instead of executing it, or None."""
    try:
        cost = operation_cost(schema, document, operation_name, variables, page)
    except Refused as exc:
        return GraphQLError(str(exc), extensions=exc.extensions)
    if cost is not None and cost > limit:
        return GraphQLError(
            f"query cost {cost} is over the limit of {limit} ([api] max_query_cost): ask for "
            "fewer aliases, smaller pages (first) or fewer days, or split the query",
            extensions={"code": "QUERY_TOO_COSTLY", "cost": cost, "limit": limit})
    return None


class QueryCost(SchemaExtension):
    """Answers an operation whose arguments are out of bounds or whose cost is over the
    limit with that error, before any resolver runs (limits from the request's context)."""

    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        api = ctx.context.config.api
        document = ctx.graphql_document
        if document is not None:
            error = refusal(ctx.schema._schema, document, ctx.operation_name, ctx.variables,
                            api.max_query_cost, api.max_page_size)
            if error is not None:
                ctx.result = ExecutionResult(data=None, errors=[error])
        yield
