"""/openapi.json: the REST routes described from the one declaration they are served from
(rest.ENDPOINTS), with each answer's schema derived from the GraphQL field it twins, so
the document cannot drift from the routes or from the schema."""

from __future__ import annotations

import functools
import re
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLUnionType,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from graphql_api.rest import ENDPOINTS, Endpoint, selection_depth_ok
from graphql_api.schema import schema

SCALARS = {"String": {"type": "string"}, "ID": {"type": "string"}, "Int": {"type": "integer"},
           "Float": {"type": "number"}, "Boolean": {"type": "boolean"},
           "BigInt": {"type": "integer"}, "DateTime": {"type": "string"},
           "Date": {"type": "string"}}
ERROR = {"type": "object", "properties": {"error": {"type": "string"}}}
GRAPHQL_ERRORS = {"type": "object", "properties": {"errors": {"type": "array", "items": {
    "type": "object", "properties": {"message": {"type": "string"}}}}}}
STATUS_TEXT = {
    200: "the field's answer", 202: "launched: the answer names the Dagster run",
    400: "a parameter or body that does not parse, or a GraphQL error",
    401: "a token was sent and refused", 403: "the caller's role may not do this",
    404: "no such app or backup", 413: "the body is over [api] max_body_bytes",
    422: "the request is refused (InvalidInput, BackupNotRestorable)",
    429: "too many requests without a valid token from this address (Retry-After)",
    503: "Dagster does not answer: nothing was launched"}


def type_schema(type_: Any, depth: int = 0) -> dict[str, Any]:
    """JSON schema of what the REST body holds of a GraphQL type (rest.selection's fields)."""
    nullable = not isinstance(type_, GraphQLNonNull)
    inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    if isinstance(inner, GraphQLList):
        out: dict[str, Any] = {"type": "array", "items": type_schema(inner.of_type, depth)}
    elif isinstance(inner, GraphQLUnionType):
        out = {"oneOf": [type_schema(GraphQLNonNull(t), depth + 1) for t in inner.types]}
    elif isinstance(inner, GraphQLObjectType):
        props = {name: type_schema(field.type, depth + 1)
                 for name, field in inner.fields.items()
                 if selection_depth_ok(field, depth)}
        props["__typename"] = {"const": inner.name}
        out = {"type": "object", "properties": props}
    elif isinstance(inner, GraphQLEnumType):
        out = {"type": "string", "enum": list(inner.values)}
    elif isinstance(inner, GraphQLScalarType):
        out = dict(SCALARS.get(inner.name, {}))
    else:
        out = {}
    return {"anyOf": [out, {"type": "null"}]} if nullable and out else out


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    root = (schema._schema.mutation_type if endpoint.operation == "mutation"
            else schema._schema.query_type)
    assert root is not None
    field = root.fields[endpoint.field]
    answer = type_schema(field.type if isinstance(field.type, GraphQLNonNull)
                         else GraphQLNonNull(field.type))
    params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
              for name in re.findall(r"{(\w+)}", endpoint.path)]
    params += [{"name": name, "in": "query", "required": False, "schema": spec}
               for name, spec in endpoint.query]
    responses = {str(status): {"description": STATUS_TEXT[status], "content": {
        "application/json": {"schema": _answer_schema(endpoint, status, answer)}}}
        for status in endpoint.statuses}
    op: dict[str, Any] = {
        "operationId": endpoint.field, "summary": endpoint.summary,
        "description": f"Answered by the GraphQL {endpoint.operation} field `{endpoint.field}`.",
        "parameters": params, "responses": responses}
    if endpoint.body is not None:
        op["requestBody"] = {"required": True,
                             "content": {"application/json": {"schema": endpoint.body}}}
    return op


def _answer_schema(endpoint: Endpoint, status: int, answer: dict[str, Any]) -> dict[str, Any]:
    """What a status's body holds: refusals before the route (a token, the body's size, the
    rate) the middleware's `errors`; a mutation's refusals (403, 404, 422, 503) its result
    type, as its 202 does; any other failure rest's `{"error": ...}`."""
    if status in (401, 413, 429):
        return GRAPHQL_ERRORS
    if status in (200, 202) or (endpoint.operation == "mutation" and status in (403, 404, 422, 503)):
        return answer
    return ERROR


@functools.cache  # the routes and the schema do not change while the process lives
def openapi_document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in ENDPOINTS:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint)
    return {
        "openapi": "3.1.0",
        "info": {"title": "pg-dr-control REST API", "version": "1",
                 "description": "The REST twins of GraphQL fields (/graphql is the whole "
                                "API). Bearer JWT; roles viewer < operator < admin; callers "
                                "without a token see the public fields only."},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                                      "bearerFormat": "JWT"}}},
        "security": [{"bearer": []}, {}],
        "paths": paths,
    }


async def openapi_json(request: Request) -> Response:
    return JSONResponse(openapi_document())
