"""Introspection and GraphiQL for anonymous callers: off unless `[api] public_introspection`.

Callers with a token (viewer and above) may always introspect; an anonymous caller's
`__schema` or `__type` is refused at validation, before anything runs (`__typename` stays:
it names a type the caller already receives)."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import GraphQLError, NoSchemaIntrospectionCustomRule, validate
from strawberry.extensions import SchemaExtension

from graphql_api.context import Context

REFUSED = ("introspection is off for anonymous callers: send a bearer token (viewer or "
           "above), or set [api] public_introspection = true in dr.toml")
GRAPHIQL_OFF = ("GraphiQL is off for anonymous callers: set [api] public_introspection = "
                "true in dr.toml (the local dev stack does), or POST queries with a bearer token")


def introspection_allowed(ctx: Context) -> bool:
    return ctx.principal.allows("viewer") or ctx.config.api.public_introspection


class AnonymousIntrospectionGate(SchemaExtension):
    """Placed after ValidationCache: adds its refusal to the validation errors, so the
    operation ends before execution (and the cached validation stays the same for all)."""

    def on_validate(self) -> Iterator[None]:
        ec = self.execution_context
        ctx = ec.context
        document = ec.graphql_document
        if (isinstance(ctx, Context) and document is not None and "__" in (ec.query or "__")
                and not introspection_allowed(ctx)
                and validate(ec.schema._schema, document, [NoSchemaIntrospectionCustomRule])):
            ec.pre_execution_errors = [*(ec.pre_execution_errors or []), GraphQLError(REFUSED)]
        yield
