"""The API's worker pool: whatever waits on the catalog (psycopg2), a store (boto3) or
Dagster (HTTP) runs in a bounded set of threads, never on the event loop.

One slow dependency then delays only its own callers: `/healthz`, answers kept by the
response cache and `healthCheck` (which probes in threads of its own, with timeouts) go on
answering while every worker waits. The pool holds `[api] worker_threads` threads; the
catalog's connection pool is sized to match, so a worker always finds a connection.

- `Workers.run` is the one way async code calls blocking code (REST routes, /metrics, the
  status page, async resolvers, data loaders);
- `OffTheLoop`, a field extension that `off_the_loop(Query, Mutation)` gives every root
  field whose resolver is synchronous (every query and mutation but `healthCheck`), runs
  the resolver through `Workers.run`, so a new field is off the loop without anyone
  remembering to put it there. Nested fields are plain attribute reads on the loop; the
  few that load something are async and call `Workers.run` themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar, TypeVarTuple

import anyio
import anyio.to_thread
from strawberry.extensions import FieldExtension
from strawberry.types import Info
from strawberry.types.base import get_object_definition

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class Workers:
    """A bounded pool of threads for blocking calls."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.limiter = anyio.CapacityLimiter(threads)

    @property
    def busy(self) -> int:
        """Threads running a call now."""
        return int(self.limiter.borrowed_tokens)

    async def run(self, fn: Callable[[*Ts], T], *args: *Ts) -> T:
        """`fn(*args)` in a worker thread, once one is free."""
        return await anyio.to_thread.run_sync(fn, *args, limiter=self.limiter)


class OffTheLoop(FieldExtension):
    """Runs a synchronous resolver in the workers; the executor awaits what it returns."""

    def resolve(self, next_: Callable[..., Any], source: Any, info: Info[Any, Any],
                **kwargs: Any) -> Any:
        workers: Workers = info.context.state.workers
        return workers.run(partial(next_, source, info, **kwargs))


def off_the_loop(*roots: type) -> None:
    """Give every synchronous field of these types (the schema's roots) OffTheLoop. On the
    roots only: an extension on every field would slow large answers down, and nested
    fields read attributes of what the root resolver returned."""
    for root in roots:
        for field in get_object_definition(root, strict=True).fields:
            if not field.is_async and not any(isinstance(e, OffTheLoop)
                                              for e in field.extensions):
                field.extensions.append(OffTheLoop())
