"""The ASGI application: /graphql, /healthz, /metrics, the seed's REST endpoints and the
public status page at `/`.

Run with `uvicorn --factory graphql_api.app:create_app`. Connections to the catalog
live in the lifespan's ApiState, never in module globals.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.asgi import GraphQL

from dr_assets.core.access.refusals import FLUSH_EVERY
from dr_assets.core.access.tokens import ANONYMOUS, AuthError
from dr_assets.core.statuses import AuditResult
from graphql_api.auth import principal_from
from graphql_api.context import Context, new_context
from graphql_api.introspection import GRAPHIQL_OFF
from graphql_api.metrics import metrics_text
from graphql_api.openapi import openapi_json
from graphql_api.rate_limit import retry_after
from graphql_api.response_cache import CachingGraphQL, ResponseCache
from graphql_api.rest import rest_routes
from graphql_api.schema import schema
from graphql_api.state import ApiState
from graphql_api.status_page.routes import status_page_routes


class HttpMiddleware:
    """An ASGI middleware over HTTP requests only (lifespan events pass through)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class AuthMiddleware(HttpMiddleware):
    """Turns the bearer token into a principal; a bad token ends the request with 401.
    Callers without a token, or with a refused one, are rate limited per client address
    (429 with Retry-After, rate_limit.py); /healthz never is."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope)
        state: ApiState = request.app.state.api
        limited = request.url.path != "/healthz"
        client = request.client.host if request.client else "unknown"
        try:
            principal = principal_from(request, state.verifier)
            if limited and principal is ANONYMOUS and (
                    wait := state.anonymous.take(client)) is not None:
                await too_many(wait, "without a token")(scope, receive, send)
                return
            scope.setdefault("state", {})["principal"] = principal
        except AuthError as exc:
            if limited and (wait := state.refused.take(client)) is not None:
                await too_many(wait, "with a refused token")(scope, receive, send)
                return
            if state.refusals.note(client, datetime.now(UTC), str(exc)):
                await state.workers.run(state.runtime.catalog.audit, "unauthenticated",
                                        "none", "authenticate",
                                        {"path": request.url.path, "source": client},
                                        AuditResult.REFUSED, str(exc))
            response = JSONResponse({"errors": [{"message": str(exc)}]}, status_code=401,
                                    headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class BodyTooLarge(Exception):
    pass


class BodyLimit(HttpMiddleware):
    """Bounds every request body (and so a GraphQL document's variables) to
    `[api] max_body_bytes`: 413 before the body is read when Content-Length says it is too
    large, or as soon as the bytes read pass the bound. Audited when a token came with it:
    an accountable caller sending what no client of the API sends."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        state: ApiState = scope["app"].state.api
        limit = state.runtime.config.api.max_body_bytes
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > limit:
            await self.refuse(scope, receive, send, state, int(declared))
            return
        seen = 0
        started = False

        async def bounded_receive() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, bounded_receive, tracked_send)
        except BodyTooLarge:
            if started:
                raise
            await self.refuse(scope, receive, send, state, seen)

    @staticmethod
    async def refuse(scope: Scope, receive: Receive, send: Send, state: ApiState,
                     size: int) -> None:
        limit = state.runtime.config.api.max_body_bytes
        principal = scope.get("state", {}).get("principal", ANONYMOUS)
        message = (f"the request body is larger than {limit} bytes ([api] max_body_bytes): "
                   "send smaller variables or page through the data")
        if principal is not ANONYMOUS:
            await state.workers.run(state.runtime.catalog.audit, principal.subject,
                                    principal.role, "request",
                                    {"path": scope.get("path", ""), "bytes": size},
                                    AuditResult.REFUSED, message)
        await JSONResponse({"errors": [{"message": message}]}, status_code=413)(
            scope, receive, send)


def too_many(wait: float, how: str) -> Response:
    seconds = retry_after(wait)
    return JSONResponse({"errors": [{"message": f"too many requests {how} from this address: "
                                                f"retry after {seconds} s"}]},
                        status_code=429, headers={"Retry-After": seconds})


class DRGraphQL(GraphQL[Context, None]):
    def decode_json(self, data: str | bytes) -> object:
        """A body that is not UTF-8 is malformed JSON (a 400), not a server error."""
        try:
            return json.loads(data)
        except UnicodeDecodeError as exc:
            raise json.JSONDecodeError(f"the body is not UTF-8 ({exc.reason})", "", 0) from exc

    async def get_context(self, request: Any, response: Any) -> Context:
        return new_context(request.app.state.api, request.state.principal, request, response)

    async def render_graphql_ide(self, request: Any) -> Response:
        state: ApiState = request.app.state.api
        if not (request.state.principal.allows("viewer")
                or state.runtime.config.api.public_introspection):
            return PlainTextResponse(GRAPHIQL_OFF, status_code=404)
        return await super().render_graphql_ide(request)


async def healthz(request: Request) -> Response:
    """The process serves requests: it asks nothing of the catalog, stores or workers."""
    return JSONResponse({"ok": True})


async def metrics(request: Request) -> Response:
    state: ApiState = request.app.state.api
    body = await state.workers.run(metrics_text, state)  # the catalog and the stores
    return PlainTextResponse(body, media_type="text/plain; version=0.0.4; charset=utf-8")


async def audit_refusal_summaries(state: ApiState) -> None:
    """Writes the summaries of refused tokens once each minute is over (close() writes
    what is left when the process stops)."""
    while True:
        await asyncio.sleep(FLUSH_EVERY.total_seconds())
        if due := state.refusals.closed(datetime.now(UTC)):
            await state.workers.run(state.audit_refusals, due)


def _response_cache(scope: Scope) -> ResponseCache:
    return scope["app"].state.api.response_cache  # type: ignore[no-any-return]


def create_app(config_path: str | None = None) -> Starlette:
    config_path = config_path or os.environ.get("DR_CONFIG") or None

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.api = ApiState.load(config_path).open()
        # What is loaded by now lives as long as the process: out of the collector's way,
        # a full collection walks only what requests make (not ~160,000 objects, ~100 ms
        # that a request would wait for).
        gc.collect()
        gc.freeze()
        summaries = asyncio.create_task(audit_refusal_summaries(app.state.api))
        try:
            yield
        finally:
            summaries.cancel()
            app.state.api.close()

    graphql = DRGraphQL(schema, graphql_ide="graphiql")
    routes = [
        Route("/graphql", CachingGraphQL(graphql, _response_cache), methods=["GET", "POST"]),
        Route("/healthz", healthz),
        Route("/metrics", metrics),
        Route("/openapi.json", openapi_json),
        *rest_routes(),
        *status_page_routes(),
    ]
    # Outermost first: the token is read (and refused ones limited) before the body is.
    return Starlette(routes=routes, lifespan=lifespan,
                     middleware=[Middleware(AuthMiddleware), Middleware(BodyLimit)])
