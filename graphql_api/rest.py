"""The seed's REST endpoints, as thin adapters: each runs the GraphQL field that answers
the same question, so both share resolvers, rules and audit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType, GraphQLUnionType
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from graphql_api.context import new_context
from graphql_api.params import BadParameter, whole_number
from graphql_api.response_cache import Answer, ResponseCache, answer_key
from graphql_api.schema import schema

Handler = Callable[[Request], Awaitable[Response]]
V1 = "/api/v1/disaster-recovery"
DASH = "/api/v1/dashboard"


@dataclass(frozen=True)
class Endpoint:
    """One REST route: how it is served and how /openapi.json describes it."""

    method: str
    path: str
    handler: Handler
    field: str  # the GraphQL field it answers with
    summary: str
    statuses: tuple[int, ...]  # every status it can answer (tests/api/test_openapi.py)
    query: tuple[tuple[str, dict[str, Any]], ...] = ()  # query parameters, JSON schemas
    body: dict[str, Any] | None = None  # the JSON body's schema, for POSTs that take one

    @property
    def operation(self) -> str:
        return "mutation" if self.method == "POST" else "query"


def selection(type_: Any, depth: int = 0) -> str:
    """Every field of a type (unions by fragment), for a REST body that hides nothing."""
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    if isinstance(type_, GraphQLUnionType):
        parts = [f"... on {t.name} {selection(t, depth + 1)}" for t in type_.types]
        return "{ __typename " + " ".join(parts) + " }"
    if not isinstance(type_, GraphQLObjectType):
        return ""
    fields = [f"{name} {selection(field.type, depth + 1)}".strip()
              for name, field in type_.fields.items() if selection_depth_ok(field, depth)]
    return "{ " + " ".join(fields) + " }"


def selection_depth_ok(field: Any, depth: int) -> bool:
    """Whether a REST body holds this field of a type met at `depth`: not too deep, no
    field that needs an argument the route does not give, and no field guarded by a role
    of its own (AppStatus.forecast, viewer): a route's body is the same for every caller
    its route admits, so such a field is GraphQL's only."""
    definition = (field.extensions or {}).get("strawberry-definition")
    if definition is not None and getattr(definition, "permission_classes", None):
        return False
    return depth < 4 and not (field.args and any(
        isinstance(a.type, GraphQLNonNull) and a.default_value is None
        for a in field.args.values()))


def field_document(op: str, field: str, args: str = "", params: str = "") -> str:
    root = schema._schema.query_type if op == "query" else schema._schema.mutation_type
    assert root is not None
    return f"{op}{params} {{ {field}{args} {selection(root.fields[field].type)} }}"


async def run_field(request: Request, op: str, field: str, variables: dict[str, Any] | None = None,
                    args: str = "", params: str = "") -> Response:
    """The field's answer, through the GraphQL endpoint's response cache: queries are kept by
    role and invalidated alike, concurrent misses execute once, mutations drop what is kept."""
    document = field_document(op, field, args, params)
    cache: ResponseCache = request.app.state.api.response_cache
    key, kind = answer_key("rest", request.state.principal.role, document, None, variables)

    async def execute() -> Response:
        return await _execute(request, op, field, document, variables)

    if key is None or not cache.enabled:
        response = await cache.bypass(kind, execute)
        response.headers["x-dr-cache"] = "bypass"
        return response

    async def answer() -> Answer:
        response = await execute()  # REST refusals and errors answer with another status
        return Answer(response.status_code, tuple(response.raw_headers), bytes(response.body),
                      clean=response.status_code == 200)

    return await cache.answer(key, answer)


async def _execute(request: Request, op: str, field: str, document: str,
                   variables: dict[str, Any] | None) -> Response:
    ctx = new_context(request.app.state.api, request.state.principal, request)
    result = await schema.execute(document, variable_values=variables, context_value=ctx)
    if result.errors:
        message = "; ".join(e.message for e in result.errors)
        status = 403 if "not allowed" in message else 400
        return JSONResponse({"error": message}, status_code=status)
    data = (result.data or {}).get(field)
    if data is None:
        return JSONResponse({"error": "not found"}, status_code=404)
    if isinstance(data, dict) and data.get("__typename") in (
            "NotAllowed", "UnknownApp", "BackupNotFound", "BackupNotRestorable", "InvalidInput",
            "DagsterUnavailable"):
        code = {"NotAllowed": 403, "UnknownApp": 404, "BackupNotFound": 404,
                "DagsterUnavailable": 503}.get(data["__typename"], 422)
        return JSONResponse(data, status_code=code)
    return JSONResponse(data, status_code=202 if op == "mutation" else 200)


async def status_global(request: Request) -> Response:
    return await run_field(request, "query", "globalStatus")


async def status_app(request: Request) -> Response:
    return await run_field(request, "query", "app", {"name": request.path_params["app_name"]},
                           "(name: $name)", "($name: String!)")


async def backups(request: Request) -> Response:
    q = request.query_params
    try:
        first = whole_number(request, "limit", 50, 1, request.app.state.api.runtime.config.api
                             .max_page_size)
    except BadParameter as exc:
        return exc.json()
    variables = {"app": q.get("app"), "status": q.get("status"), "first": first}
    return await run_field(request, "query", "backups", variables,
                           "(app: $app, status: $status, first: $first)",
                           "($app: String, $status: String, $first: Int!)")


async def _app_mutation(request: Request, field: str) -> Response:
    """A mutation whose one argument is the app named in the path."""
    return await run_field(request, "mutation", field, {"app": request.path_params["app_name"]},
                           "(app: $app)", "($app: String!)")


async def post_backup(request: Request) -> Response:
    return await _app_mutation(request, "createBackup")


async def post_restore(request: Request) -> Response:
    body = await _json_body(request)
    target = body.get("target_database")
    if not isinstance(target, str):
        return JSONResponse({"error": "body must be JSON with target_database"}, status_code=400)
    chosen = {k: body[k] for k in ("tables", "schemas") if body.get(k) is not None}
    if not all(isinstance(v, list) and all(isinstance(n, str) for n in v)
               for v in chosen.values()):
        return JSONResponse({"error": "tables and schemas must be lists of names"},
                            status_code=400)
    variables = {"input": {"backupId": request.path_params["backup_id"],
                           "targetDatabase": target, "mode": "NEW_DATABASE", **chosen}}
    return await run_field(request, "mutation", "restoreBackup", variables, "(input: $input)",
                           "($input: RestoreInput!)")


async def post_point_in_time_restore(request: Request) -> Response:
    """The twin of restoreToPointInTime: a JSON body with target_database and one of
    to_time, to_lsn, to_latest."""
    body = await _json_body(request)
    fields = {"target_database": str, "to_time": str, "to_lsn": str, "to_latest": bool}
    if not isinstance(body.get("target_database"), str) or not all(
            isinstance(body[k], kind) for k, kind in fields.items() if body.get(k) is not None):
        return JSONResponse({"error": "body must be JSON with target_database (a name) and "
                                      "one of to_time (ISO 8601), to_lsn, to_latest (true)"},
                            status_code=400)
    variables = {"input": {"app": request.path_params["app_name"],
                           "targetDatabase": body["target_database"], "toTime": body.get("to_time"),
                           "toLsn": body.get("to_lsn"), "toLatest": body.get("to_latest")}}
    return await run_field(request, "mutation", "restoreToPointInTime", variables,
                           "(input: $input)", "($input: PointInTimeRestoreInput!)")


async def _json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object; empty when the body is not one."""
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


async def post_test_restore(request: Request) -> Response:
    return await _app_mutation(request, "scheduleDrill")


def query_twin(field: str) -> Callable[[Request], Awaitable[Response]]:
    """The twin of a query field that takes no arguments."""
    async def endpoint(request: Request) -> Response:
        return await run_field(request, "query", field)
    return endpoint


PAGE_SIZE = {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50,
             "description": "page size (at most [api] max_page_size)"}
NAMES = {"type": "array", "items": {"type": "string"}}
RESTORE_BODY = {"type": "object", "required": ["target_database"], "properties": {
    "target_database": {"type": "string", "description": "a new database's name"},
    "tables": {**NAMES, "description": "restore only these tables (schema.table)"},
    "schemas": {**NAMES, "description": "restore only these schemas"}}}
PITR_BODY = {"type": "object", "required": ["target_database"], "properties": {
    "target_database": {"type": "string"},
    "to_time": {"type": "string", "format": "date-time"},
    "to_lsn": {"type": "string", "description": "e.g. 0/3000060"},
    "to_latest": {"type": "boolean"}},
    "description": "target_database and one of to_time, to_lsn, to_latest"}

# What every route may answer, besides its own: a refused token (401), a body over
# [api] max_body_bytes (413), a caller past its rate limit (429).
COMMON = (401, 413, 429)
PUBLIC = (200, *COMMON)  # a public field: every caller may read it
VIEWER = (200, 403, *COMMON)  # 403: callers without a token may not
# 202 launched, 403 the role may not, 404 no such app or backup, 503 Dagster is down.
LAUNCH = (202, 403, 404, 503, *COMMON)
LAUNCH_WITH_BODY = (*LAUNCH, 400, 422)  # 400 a body that does not parse, 422 refused

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", f"{V1}/status/global", status_global, "globalStatus",
             "Estate health: score, counts, last backups", PUBLIC),
    Endpoint("GET", f"{V1}/status/{{app_name}}", status_app, "app",
             "One app's status, policy and last backups", (*PUBLIC, 404)),
    Endpoint("GET", f"{V1}/backups", backups, "backups", "Backups, newest first", (*VIEWER, 400),
             query=(("app", {"type": "string"}), ("status", {"type": "string"}),
                    ("limit", PAGE_SIZE))),
    Endpoint("GET", f"{V1}/restores", query_twin("restores"), "restores",
             "Restores and drills, newest first", VIEWER),
    Endpoint("GET", f"{V1}/health-check", query_twin("healthCheck"), "healthCheck",
             "Each component's probe: catalog, stores, Dagster", PUBLIC),
    Endpoint("GET", f"{V1}/metrics/dashboard", query_twin("dashboardMetrics"),
             "dashboardMetrics", "The dashboard's figures", VIEWER),
    Endpoint("POST", f"{V1}/backup/{{app_name}}", post_backup, "createBackup",
             "Launch a backup of the app (operator)", LAUNCH),
    Endpoint("POST", f"{V1}/restore/{{backup_id}}", post_restore, "restoreBackup",
             "Restore the backup into a new database (admin)", LAUNCH_WITH_BODY,
             body=RESTORE_BODY),
    Endpoint("POST", f"{V1}/test-restore/{{app_name}}", post_test_restore, "scheduleDrill",
             "Launch a restore drill of the app (operator)", LAUNCH),
    Endpoint("POST", f"{V1}/point-in-time-restore/{{app_name}}", post_point_in_time_restore,
             "restoreToPointInTime", "Restore the app's server to a point in time (admin)",
             LAUNCH_WITH_BODY, body=PITR_BODY),
    Endpoint("GET", f"{DASH}/executive-summary", query_twin("executiveSummary"),
             "executiveSummary", "The executive summary tile", VIEWER),
    Endpoint("GET", f"{DASH}/disaster-recovery/status", query_twin("apps"), "apps",
             "Every app's status", PUBLIC),
    Endpoint("GET", f"{DASH}/health-overview", query_twin("healthOverview"), "healthOverview",
             "Health per app and trend", VIEWER),
)


def rest_routes() -> list[Route]:
    """The routes, from ENDPOINTS (which /openapi.json describes too)."""
    return [Route(e.path, e.handler, methods=[e.method]) for e in ENDPOINTS]
