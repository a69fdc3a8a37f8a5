"""The dashboard queries' latency through the real API, uncached and cached.

`measure(catalog_url, config_path, repeats)` starts the API in-process (the ASGI app of
`graphql_api.app.create_app` with its lifespan, asked over httpx's ASGI transport: auth
middleware, response cache, GraphQL execution, the catalog over its connection pool) and
asks each dashboard query `repeats` times, one request at a time:

- uncached: every answer cache of the API is dropped before each request (as when the
  catalog changed), so the estate's health and the query are computed again;
- cached: the same request again with nothing changed: the answer the response cache keeps
  (requests it missed on are counted and left out).

It returns, per query, p50/p99/max in milliseconds and the answer's size; `print_report`
prints them. The catalog is read as it is: build one with bench/catalog_history.py.

Usage: .venv/bin/python bench/dashboard_queries.py CONFIG [--repeats 50] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's packages, not an installed copy

import httpx  # noqa: E402

from dr_assets.core.access.tokens import load_jwt_secret, mint_token  # noqa: E402
from dr_assets.core.pg.conninfo import ConnInfo  # noqa: E402
from dr_assets.core.policy import load_config  # noqa: E402
from graphql_api.app import create_app  # noqa: E402

# The executive tiles as README.md gives them, and the backups page: its first page, a
# page 20 pages in (from the cursor the pages before returned), one app's and one status's.
# (name, needs a viewer token, query, variables)
BACKUPS_PAGE = ("query($after: String) { backups(first: 50, after: $after) { totalCount"
                " pageInfo { hasNextPage endCursor } edges { cursor node { backupId app status"
                " startedAt finishedAt storedBytes verified serverVersion copies { destination"
                " status verifiedOk } } } } }")
QUERIES: tuple[tuple[str, bool, str, dict[str, Any] | None], ...] = (
    ("globalStatus", False,
     "{ globalStatus { healthScore status appsTotal appsMeetingRpo appsMeetingRto"
     " criticalAppsHealthy storageBytes backups24h { succeeded failed } activeAlerts } }", None),
    ("apps", False,
     "{ apps { name healthScore rpoMet rtoMet backupAgeHours"
     " lastBackup { backupId startedAt verified } lastDrill { restoreSeconds rtoMet } } }", None),
    ("executiveSummary", True,
     "{ executiveSummary { headline healthScore status rpoCompliancePct rtoCompliancePct"
     " appsAtRisk { name healthScore } } }", None),
    ("backups", True, BACKUPS_PAGE, {"after": None}),
    ("backupsPage20", True, BACKUPS_PAGE, {"after": None}),
    ("backupsOfApp", True,
     "query($app: String) { backups(app: $app, first: 20) { totalCount pageInfo { hasNextPage"
     " endCursor } edges { node { backupId status storedBytes runId partition copies {"
     " destination verifiedOk } } } } }", {"app": None}),
    ("backupsFailed", True,
     "{ backups(status: \"failed\", first: 50) { totalCount edges { node { backupId app"
     " startedAt error } } } }", None),
)


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _figures(ms: Sequence[float]) -> dict[str, float]:
    return {"n": len(ms), "p50_ms": round(statistics.median(ms), 2) if ms else 0.0,
            "p99_ms": round(_percentile(ms, 0.99), 2) if ms else 0.0,
            "max_ms": round(max(ms), 2) if ms else 0.0}


def measure(catalog_url: str | None, config_path: str | Path, repeats: int = 50,
            warmup: int = 3, only: Sequence[str] | None = None) -> dict[str, Any]:
    """p50/p99 of each dashboard query, uncached and cached; see the module docstring.
    catalog_url, when given, must be the catalog the config names (a guard against
    measuring another one)."""
    config = load_config(config_path)
    if catalog_url is not None and (ConnInfo.parse(catalog_url).safe_url
                                    != ConnInfo.parse(config.catalog_url).safe_url):
        raise ValueError(f"{config_path} names the catalog {config.catalog_url}, not "
                         f"{catalog_url}")
    secret = load_jwt_secret(config.api)
    if secret is None:
        raise ValueError(f"{config_path}: no JWT secret (jwt_secret_file or the variable "
                         f"{config.api.jwt_secret_env}): the viewer queries need a token")
    token = mint_token(secret, config.api, "bench-viewer", "viewer", ttl_seconds=24 * 3600)
    return asyncio.run(_measure(Path(config_path), token, next(iter(config.apps)), repeats,
                                warmup, only))


async def _measure(config_path: Path, token: str, first_app: str, repeats: int, warmup: int,
                   only: Sequence[str] | None) -> dict[str, Any]:
    app = create_app(str(config_path))
    out: dict[str, Any] = {}
    async with (app.router.lifespan_context(app),
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                  base_url="http://api") as client):
        state = app.state.api

        async def ask(query: str, variables: dict[str, Any] | None, auth: bool
                      ) -> tuple[float, httpx.Response]:
            headers = {"Authorization": f"Bearer {token}"} if auth else {}
            t = time.perf_counter()
            response = await client.post("/graphql", headers=headers,
                                         json={"query": query, "variables": variables})
            ms = (time.perf_counter() - t) * 1000
            body = response.json()
            if response.status_code != 200 or body.get("errors"):
                raise RuntimeError(f"{query[:60]}...: HTTP {response.status_code}: "
                                   f"{json.dumps(body)[:400]}")
            return ms, response

        for name, auth, query, variables in QUERIES:
            if only and name not in only:
                continue
            if name == "backupsOfApp":
                variables = {"app": first_app}
            elif name == "backupsPage20":
                after = None
                for _ in range(19):
                    _, page = await ask(BACKUPS_PAGE, {"after": after}, True)
                    after = page.json()["data"]["backups"]["pageInfo"]["endCursor"]
                variables = {"after": after}
            uncached: list[float] = []
            size = 0
            for i in range(warmup + repeats):
                state.response_cache.invalidate()
                ms, response = await ask(query, variables, auth)
                size = len(response.content)
                if i >= warmup:
                    uncached.append(ms)
            cached: list[float] = []
            misses = 0
            for _ in range(repeats):
                ms, response = await ask(query, variables, auth)
                if response.headers.get("x-dr-cache") == "hit":
                    cached.append(ms)
                else:
                    misses += 1
            out[name] = {"uncached": _figures(uncached), "cached": _figures(cached),
                         "cached_misses": misses, "answer_bytes": size}
    return out


def print_report(figures: dict[str, Any], title: str = "dashboard queries") -> None:
    print(f"{title} (ms)          uncached p50    p99    max |  cached p50    p99 | bytes")
    for name, f in figures.items():
        u, c = f["uncached"], f["cached"]
        print(f"  {name:<24} {u['p50_ms']:>8.1f} {u['p99_ms']:>7.1f} {u['max_ms']:>7.1f} |"
              f" {c['p50_ms']:>9.2f} {c['p99_ms']:>7.2f} | {f['answer_bytes']:,}")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("config", type=Path, help="the dr.toml of the catalog to measure")
    p.add_argument("--repeats", type=int, default=50)
    p.add_argument("--only", action="append", help="only this query (repeatable)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    figures = measure(None, args.config, args.repeats, only=args.only)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print_report(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
