"""The API's one answer cache: GraphQL queries, their REST twins and the estate's health.

Executive dashboards poll the same few queries (globalStatus, executiveSummary, the first page
of backups) every few seconds; each answer is the same for every caller of the same role.
Like a full response cache in front of a GraphQL server, this keeps the exact bytes of an
answer, keyed by (surface, role, query, operation name, variables), and serves them without
parsing, validating or executing anything:

- only `query` operations whose root fields all come from the catalog (`run` asks Dagster,
  `healthCheck` probes the stores, `auditLog` and `complianceReport` read the audit log:
  they are always executed), and only HTTP 200 answers without errors, are kept;
- an entry lives at most `max_age` seconds (ages and RPO verdicts move with the clock), and
  is dropped at once when the catalog's change feed moves (a backup finished, an alert
  opened, anything written by any process but an audit row) or a mutation went through
  this API (a refused one drops nothing: it wrote nothing but its audit row);
- callers that miss on the same key at the same moment wait for one execution (single
  flight), so a burst of dashboards costs one query of the catalog, not twenty.

`/graphql` reaches it through CachingGraphQL (an ASGI layer), the REST twins through
`answer`/`bypass` directly. The estate's health, which many of those queries share, is kept
here too (`value`), under the same rule but its own time limit.

Authentication is not cached: the bearer token is verified on every request before this
runs (AuthMiddleware), and the principal's role is part of the key.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Generic, TypeVar, cast

from graphql import FieldNode, GraphQLError, OperationDefinitionNode, get_operation_ast, parse
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LIVE_FIELDS = frozenset({"run", "healthCheck"})  # answered from outside the catalog
# Never kept: live, or reading the audit log, whose writes (one per refused call) do not
# move the change feed the API listens to (state.py).
UNKEPT_FIELDS = LIVE_FIELDS | {"auditLog", "complianceReport"}
MAX_BODY_BYTES = 64 * 1024  # larger bodies are executed, never cached
MAX_ENTRIES = 512
# Mutation results after which nothing was written but the audit row: refusals, and
# retention's preview.
WROTE_NOTHING = frozenset({"NotAllowed", "UnknownApp", "BackupNotFound", "BackupNotRestorable",
                           "InvalidInput", "DagsterUnavailable", "AlertNotFound",
                           "RetentionPreview"})


# (catalog change feed's generation, mutations through this API): an answer is good only
# while both are what they were when it was computed.
Generation = tuple[int, int]
T = TypeVar("T")


@dataclass(frozen=True)
class Answer:
    """An HTTP answer as executed."""

    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    clean: bool  # no errors in it: later callers with the same key may be served it


@dataclass(frozen=True)
class Kept(Generic[T]):
    """A value, with when and at which generation it was computed."""

    value: T
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
        if not isinstance(selection, FieldNode) or selection.name.value in UNKEPT_FIELDS:
            return "live"  # fragments at the root are not looked into: executed every time
    return "query"


def answer_key(surface: str, role: str, query: str, operation_name: str | None,
               variables: dict[str, Any] | None) -> tuple[str | None, str | None]:
    """(cache key or None when never kept, operation kind) of an operation asked through
    `surface` ("graphql" or "rest": their bodies differ, so they never share an entry)."""
    kind = operation_kind(query, operation_name)
    if kind != "query":
        return None, kind
    return json.dumps([surface, role, query, operation_name, variables or {}],
                      sort_keys=True), kind


def request_key(role: str, body: bytes) -> tuple[str | None, str | None]:
    """(cache key or None, operation kind) for a GraphQL POST body."""
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
    return answer_key("graphql", role, doc["query"], name, variables)


class ResponseCache:
    """Lookup, single flight, keep-if-current and invalidation; see the module docstring."""

    def __init__(self, max_age: float, feed_generation: Callable[[], int],
                 max_entries: int = MAX_ENTRIES) -> None:
        self.max_age = max_age
        self.feed_generation = feed_generation
        self.max_entries = max_entries
        self._entries: OrderedDict[str, Kept[Any]] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[Kept[Answer] | None]] = {}
        # One lock per value: a slow one (a recoverable window) never holds up another.
        self._computing: dict[str, threading.Lock] = {}
        self._locks = threading.Lock()
        # Values are kept from worker threads, answers from the event loop: entries change
        # under this lock, held for dictionary operations only (never while computing).
        self._entries_lock = threading.Lock()
        self._mutations = 0
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.max_age > 0

    def generation(self) -> Generation:
        return self.feed_generation(), self._mutations

    def _fresh(self, key: str, max_age: float) -> Kept[Any] | None:
        with self._entries_lock:
            kept = self._entries.get(key)
            if kept is None:
                return None
            if (time.monotonic() - kept.stored_at >= max_age
                    or kept.generation != self.generation()):
                self._entries.pop(key, None)
                return None
            return kept

    def _keep(self, key: str, kept: Kept[Any]) -> None:
        """Keep what was computed only if nothing was written or mutated meanwhile."""
        with self._entries_lock:
            if kept.generation != self.generation():
                return
            self._entries[key] = kept
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    async def answer(self, key: str, execute: Callable[[], Awaitable[Answer]]) -> Response:
        """The answer for `key`, marked in X-DR-Cache: kept (hit, with its Age), computed
        for a caller that asked first (hit), or executed now (miss)."""
        kept = self._fresh(key, self.max_age)
        if kept is None and key in self._inflight:
            kept = await asyncio.shield(self._inflight[key])
        if kept is not None:
            self.hits += 1
            return _response(kept.value, b"hit", age=time.monotonic() - kept.stored_at)
        self.misses += 1
        return _response(await self._execute(key, execute), b"miss")

    async def _execute(self, key: str, execute: Callable[[], Awaitable[Answer]]) -> Answer:
        future: asyncio.Future[Kept[Answer] | None] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        kept: Kept[Answer] | None = None
        try:
            generation = self.generation()
            answer = await execute()
            if answer.status == 200:  # shared with callers waiting on it; kept only when clean
                kept = Kept(answer, time.monotonic(), generation)
                if answer.clean:
                    self._keep(key, kept)
            return answer
        finally:
            if self._inflight.get(key) is future:
                del self._inflight[key]
            future.set_result(kept)

    async def bypass(self, kind: str | None, execute: Callable[[], Awaitable[T]]) -> T:
        """Execute what is never kept. A mutation that went through drops everything kept
        itself (`mutated`), a refused one nothing."""
        return await execute()

    def mutated(self, outcome: str) -> None:
        """A mutation answered `outcome` (its result type): unless it is one that writes
        nothing, drop everything kept."""
        if outcome not in WROTE_NOTHING:
            self.invalidate()

    def value(self, key: str, compute: Callable[[], T], max_age: float) -> T:
        """An in-process value kept like an answer but for `max_age` seconds, whether answers
        are kept or not; threads asking at once wait for one computation."""
        kept = self._fresh(key, max_age)
        if kept is None:
            with self._locks:
                computing = self._computing.setdefault(key, threading.Lock())
            with computing:
                kept = self._fresh(key, max_age)
                if kept is None:
                    generation = self.generation()
                    kept = Kept(compute(), time.monotonic(), generation)
                    self._keep(key, kept)
        return cast(T, kept.value)

    def invalidate(self) -> None:
        with self._entries_lock:
            self._mutations += 1
            self._entries.clear()


def _clean(status: int, body: bytes) -> bool:
    if status != 200:
        return False
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    return isinstance(doc, dict) and not doc.get("errors") and doc.get("data") is not None


def _response(answer: Answer, state: bytes, age: float | None = None) -> Response:
    response = Response(answer.body, status_code=answer.status)
    response.raw_headers = [*answer.headers, (b"x-dr-cache", state)]
    if age is not None:
        response.raw_headers.append((b"age", str(int(age)).encode()))
    return response


class CachingGraphQL:
    """ASGI wrapper around the GraphQL endpoint; see the module docstring."""

    def __init__(self, app: ASGIApp, cache: Callable[[Scope], ResponseCache]) -> None:
        self.app = app
        self.cache_for = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        cache = self.cache_for(scope)
        if not cache.enabled:
            await self.app(scope, receive, send)
            return
        body, receive = await _buffer(receive)
        principal = scope.get("state", {}).get("principal")
        key, kind = (request_key(getattr(principal, "role", "public"), body)
                     if body is not None else (None, None))
        if key is None:
            await cache.bypass(kind, lambda: self.app(scope, receive, _with_header(send, b"bypass")))
            return
        response = await cache.answer(key, lambda: self._captured(scope, receive))
        await response(scope, receive, send)

    async def _captured(self, scope: Scope, receive: Receive) -> Answer:
        status, headers, chunks = 200, [], []

        async def capture(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        body = b"".join(chunks)
        return Answer(status, tuple(headers), body, clean=_clean(status, body))


def _with_header(send: Send, state: bytes) -> Send:
    """`send` that adds `X-DR-Cache: state` to the answer's headers as they go out."""

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
