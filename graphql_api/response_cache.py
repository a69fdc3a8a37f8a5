"""Whole-answer caching for GraphQL queries that many dashboards ask at once.

Executive dashboards poll the same few queries (globalStatus, executiveSummary, the first page
of backups) every few seconds; each answer is the same for every caller of the same role.
Like a full response cache in front of a GraphQL server, this keeps the exact bytes of an
answer, keyed by (role, query, operation name, variables), and serves them without parsing,
validating or executing anything:

- only `query` operations whose root fields all come from the catalog (`run` asks Dagster,
  `healthCheck` probes the stores: they are always executed), and only HTTP 200 answers
  without errors, are kept;
- an entry lives at most `max_age` seconds (ages and RPO verdicts move with the clock), and
  is dropped at once when the catalog's change feed moves (a backup finished, an alert
  opened, anything written by any process) or a mutation went through this API;
- callers that miss on the same key at the same moment wait for one execution (single
  flight), so a burst of dashboards costs one query of the catalog, not twenty.

Authentication is not cached: the bearer token is verified on every request before this
runs (AuthMiddleware), and the principal's role is part of the key.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import FieldNode, GraphQLError, OperationDefinitionNode, get_operation_ast, parse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LIVE_FIELDS = frozenset({"run", "healthCheck"})  # answered from outside the catalog
MAX_BODY_BYTES = 64 * 1024  # larger bodies are executed, never cached
MAX_ENTRIES = 512


# (catalog change feed's generation, mutations through this API): an answer is good only
# while both are what they were when it was computed.
Generation = tuple[int, int]


@dataclass(frozen=True)
class CachedAnswer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    stored_at: float
    generation: Generation


@lru_cache(maxsize=1024)
def operation_kind(query: str, operation_name: str | None) -> str | None:
    """'query' when the operation may be cached, 'mutation'/'subscription'/'live' otherwise,
    None when it cannot be parsed (the GraphQL layer then answers with the error)."""
    try:
        document = parse(query)
    except GraphQLError:
        return None
    operation = get_operation_ast(document, operation_name)
    if not isinstance(operation, OperationDefinitionNode):
        return None
    kind = operation.operation.value
    if kind != "query":
        return kind
    for selection in operation.selection_set.selections:
        if not isinstance(selection, FieldNode) or selection.name.value in LIVE_FIELDS:
            return "live"  # fragments at the root are not looked into: executed every time
    return "query"


def request_key(role: str, body: bytes) -> tuple[str | None, str | None]:
    """(cache key or None, operation kind) for a POST body."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None, None
    if not isinstance(doc, dict) or not isinstance(doc.get("query"), str):
        return None, None
    name = doc.get("operationName")
    variables = doc.get("variables")
    if (name is not None and not isinstance(name, str)) or (
            variables is not None and not isinstance(variables, dict)):
        return None, None
    kind = operation_kind(doc["query"], name)
    if kind != "query":
        return None, kind
    return json.dumps([role, doc["query"], name, variables or {}], sort_keys=True), kind


class ResponseCache:
    def __init__(self, max_age: float, feed_generation: Callable[[], int],
                 max_entries: int = MAX_ENTRIES) -> None:
        self.max_age = max_age
        self.feed_generation = feed_generation
        self.max_entries = max_entries
        self._entries: OrderedDict[str, CachedAnswer] = OrderedDict()
        self._mutations = 0
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.max_age > 0

    def generation(self) -> Generation:
        return self.feed_generation(), self._mutations

    def get(self, key: str) -> CachedAnswer | None:
        answer = self._entries.get(key)
        if answer is None:
            return None
        if (time.monotonic() - answer.stored_at >= self.max_age
                or answer.generation != self.generation()):
            self._entries.pop(key, None)
            return None
        return answer

    def count(self, hit: bool) -> None:
        if hit:
            self.hits += 1
        else:
            self.misses += 1

    def keep(self, key: str, generation: Generation, status: int,
             headers: list[tuple[bytes, bytes]], body: bytes, store: bool = True
             ) -> CachedAnswer:
        """The answer computed at `generation`; kept for later callers when `store` and the
        catalog did not change while it was computed."""
        answer = CachedAnswer(status, headers, body, time.monotonic(), generation)
        if store and generation == self.generation():
            self._entries[key] = answer
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return answer

    def invalidate(self) -> None:
        self._mutations += 1
        self._entries.clear()


def _cacheable(status: int, body: bytes) -> bool:
    if status != 200:
        return False
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    return isinstance(doc, dict) and not doc.get("errors") and doc.get("data") is not None


class CachingGraphQL:
    """ASGI wrapper around the GraphQL endpoint; see the module docstring."""

    def __init__(self, app: ASGIApp, cache: Callable[[Scope], ResponseCache | None]) -> None:
        self.app = app
        self.cache_for = cache
        self._inflight: dict[str, asyncio.Future[CachedAnswer | None]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        cache = self.cache_for(scope)
        if scope["type"] != "http" or scope["method"] != "POST" or cache is None \
                or not cache.enabled:
            await self.app(scope, receive, send)
            return
        body, receive = await _buffer(receive)
        principal = scope.get("state", {}).get("principal")
        key, kind = (request_key(getattr(principal, "role", "public"), body)
                     if body is not None else (None, None))
        if key is None:
            try:
                await self.app(scope, receive, _with_header(send, b"bypass"))
            finally:
                if kind == "mutation":
                    cache.invalidate()
            return
        answer = cache.get(key)
        if answer is None and key in self._inflight:
            answer = await asyncio.shield(self._inflight[key])
        cache.count(hit=answer is not None)
        if answer is not None:
            await _replay(answer, send, age=time.monotonic() - answer.stored_at)
            return
        await self._execute(cache, key, scope, receive, send)

    async def _execute(self, cache: ResponseCache, key: str, scope: Scope, receive: Receive,
                       send: Send) -> None:
        future: asyncio.Future[CachedAnswer | None] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        generation = cache.generation()
        status, headers, chunks = 200, [], []
        out = _with_header(send, b"miss")

        async def capture(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await out(message)

        answer: CachedAnswer | None = None
        try:
            await self.app(scope, receive, capture)
            body = b"".join(chunks)
            if status == 200:  # shared with callers waiting on it; kept only when clean
                answer = cache.keep(key, generation, status, headers, body,
                                    store=_cacheable(status, body))
        finally:
            if self._inflight.get(key) is future:
                del self._inflight[key]
            future.set_result(answer)


def _with_header(send: Send, state: bytes) -> Send:
    """`send` that tells, in X-DR-Cache, whether the answer was executed (miss), served from
    the cache (hit) or is never cached (bypass)."""

    async def sender(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []),
                                              (b"x-dr-cache", state)]}
        await send(message)

    return sender


async def _buffer(receive: Receive) -> tuple[bytes | None, Receive]:
    """Read the request body, up to MAX_BODY_BYTES; return it (None when longer) and a
    `receive` that hands out what was read, then the rest, to the application."""
    messages: list[Message] = []
    size = 0
    while size <= MAX_BODY_BYTES:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    complete = size <= MAX_BODY_BYTES
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
    if complete:
        messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        if messages:
            return messages.pop(0)
        return await receive()

    return (body if complete else None), replay


async def _replay(answer: CachedAnswer, send: Send, age: float) -> None:
    headers: list[Any] = [*answer.headers, (b"x-dr-cache", b"hit"),
                          (b"age", str(int(age)).encode())]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})
