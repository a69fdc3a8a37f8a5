"""Per-client rate limits for callers who are not accountable: no token, or a refused one.

A token bucket per client address: it holds up to `burst` requests and refills at `rate`
per second; a request finding it empty is answered 429 with `Retry-After` (the seconds
until the next request would pass), before anything is parsed, verified further, audited
or executed. Anonymous requests and requests whose token was refused draw from separate
buckets (a refused token is rarer and costs an audit row, so its limit is lower). Callers
with a valid token are not limited here: they are accountable (every mutation is audited),
and the query cost limit and the worker pool bound what each request costs. `/healthz` is
never limited.

The client address is the ASGI client host. Behind a reverse proxy every request comes
from the proxy, so the limit is per proxy unless uvicorn rewrites the client from a trusted
`X-Forwarded-For` (`--proxy-headers --forwarded-allow-ips=<the proxy's address>`).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_CLIENTS = 10_000  # buckets kept; the least recently seen client is forgotten first


@dataclass
class Bucket:
    tokens: float
    at: float


@dataclass
class ClientBuckets:
    """One token bucket per client address; rate 0 means no limit."""

    rate: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    max_clients: int = MAX_CLIENTS
    limited: int = 0  # requests answered 429 so far
    _buckets: OrderedDict[str, Bucket] = field(default_factory=OrderedDict)

    def take(self, client: str) -> float | None:
        """None when `client` may send this request now, else the seconds to wait."""
        if self.rate <= 0:
            return None
        now = self.clock()
        bucket = self._buckets.pop(client, None) or Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        self._buckets[client] = bucket
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        self.limited += 1
        return (1 - bucket.tokens) / self.rate


def retry_after(wait: float) -> str:
    """The Retry-After header of a wait: whole seconds, at least 1."""
    return str(max(1, math.ceil(wait)))
