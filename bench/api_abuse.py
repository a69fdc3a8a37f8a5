"""What one abusive client gets from the API with the default limits, over real HTTP.

Starts the API (one uvicorn worker, as bench/api_load.py does) on a fresh, empty catalog
database `dr_bench_abuse` with the default `[api]` limits, then for `--seconds`:

- a flood: `--threads` keep-alive connections from 127.0.0.1 sending anonymous
  globalStatus queries (cache-missing: each under a fresh alias) as fast as they are
  answered;
- meanwhile, one after another: a viewer's queries from the same address, anonymous ones
  from another address (127.0.0.2) and /healthz.

Prints the flood's answered (200) and refused (429) requests per second against the
configured rate, and the latency of the others; then the cost of the queries the project
ships (status page, bench/api_load.py, REST twins) against `max_query_cost`.

Usage: .venv/bin/python bench/api_abuse.py [--seconds 10] [--threads 8] [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from graphql import parse

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from api_load import QUERIES, start_api, stop_api, write_config  # noqa: E402
from api_stall import ms  # noqa: E402
from pgserver import Server  # noqa: E402

from dr_assets.core.access.tokens import mint_token  # noqa: E402
from dr_assets.core.policy import load_config  # noqa: E402
from graphql_api.cost import operation_cost  # noqa: E402
from graphql_api.rest import field_document  # noqa: E402
from graphql_api.schema import schema  # noqa: E402
from graphql_api.status_page.routes import page  # noqa: E402

CATALOG_DB = "dr_bench_abuse"
WORK = HERE / ".cache" / "api_abuse"


def shipped_costs(page_size: int) -> dict[str, int | None]:
    html, _ = page()
    found = re.search(r"var QUERY = (.*?);\n", html, re.S)
    status_page = "".join(re.findall(r'"([^"]*)"', found.group(1) if found else ""))
    costs = {"status page": operation_cost(schema._schema, parse(status_page))}
    for name, _, query in QUERIES:
        costs[f"bench/api_load.py {name}"] = operation_cost(schema._schema, parse(query))
    rest = field_document("query", "backups", "(app: $app, status: $status, first: $first)",
                          "($app: String, $status: String, $first: Int!)")
    costs[f"REST backups?limit={page_size}"] = operation_cost(
        schema._schema, parse(rest), None, {"first": page_size}, page_size)
    for field in ("globalStatus", "apps", "executiveSummary", "dashboardMetrics"):
        costs[f"REST {field}"] = operation_cost(schema._schema,
                                                parse(field_document("query", field)))
    return costs


def run(url: str, viewer: str, seconds: float, threads: int) -> dict[str, Any]:
    stop = threading.Event()
    codes: list[int] = []
    timed: dict[str, list[float]] = {"viewer_same_address": [], "anonymous_other_address": [],
                                     "healthz": []}
    other_codes: list[int] = []

    def flood() -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                query = "{ a" + secrets.token_hex(4) + ": globalStatus { healthScore } }"
                codes.append(client.post(f"{url}/graphql", json={"query": query}).status_code)

    def others() -> None:
        same = httpx.Client(timeout=30)
        other = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=30)
        query = {"query": "{ globalStatus { healthScore } }"}
        while not stop.is_set():
            started = time.monotonic()
            resp = same.post(f"{url}/graphql", json=query,
                             headers={"Authorization": f"Bearer {viewer}"})
            assert resp.status_code == 200, resp.text
            timed["viewer_same_address"].append(time.monotonic() - started)
            started = time.monotonic()
            other_codes.append(other.post(f"{url}/graphql", json=query).status_code)
            timed["anonymous_other_address"].append(time.monotonic() - started)
            started = time.monotonic()
            assert same.get(f"{url}/healthz").status_code == 200
            timed["healthz"].append(time.monotonic() - started)
            time.sleep(0.2)  # a second client at a few requests per second
        same.close()
        other.close()

    workers = [threading.Thread(target=flood) for _ in range(threads)]
    workers.append(threading.Thread(target=others))
    started = time.monotonic()
    for t in workers:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in workers:
        t.join()
    elapsed = time.monotonic() - started
    return {"seconds": round(elapsed, 1), "flood_requests": len(codes),
            "flood_served_per_s": round(codes.count(200) / elapsed, 1),
            "flood_429_per_s": round(codes.count(429) / elapsed, 1),
            "flood_other_statuses": sorted(set(codes) - {200, 429}),
            "other_address_statuses": sorted(set(other_codes)),
            **{k: ms(v) for k, v in timed.items()}}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=8, help="flood connections (default 8)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="PostgreSQL server URL (default: %(default)s)")
    args = parser.parse_args(argv)
    server = Server(args.server)
    if server.exists(CATALOG_DB):
        server.drop(CATALOG_DB)
    server.create(CATALOG_DB)
    api = None
    try:
        config = write_config(WORK, server.url(CATALOG_DB), rate_limited=True)
        settings = load_config(config).api
        secret = secrets.token_hex(32)
        viewer = mint_token(secret, settings, "bench-viewer", "viewer", 3600)
        api = start_api(config, secret, access_log=False)
        report = {"anonymous_rate": settings.anonymous_rate,
                  "anonymous_burst": settings.anonymous_burst,
                  "max_query_cost": settings.max_query_cost,
                  "flood": run(api.url, viewer, args.seconds, args.threads),
                  "costs": shipped_costs(settings.max_page_size)}
    finally:
        if api is not None:
            stop_api(api)
        server.drop(CATALOG_DB)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    f = report["flood"]
    print(f"anonymous limit: {report['anonymous_rate']:g}/s, burst {report['anonymous_burst']}")
    print(f"flood from one address, {args.threads} connections, {f['seconds']} s: "
          f"{f['flood_served_per_s']}/s served, {f['flood_429_per_s']}/s answered 429 "
          f"(other statuses: {f['flood_other_statuses'] or 'none'})")
    for key in ("viewer_same_address", "anonymous_other_address", "healthz"):
        print(f"  {key:26} {f[key]}")
    print(f"  another address's statuses: {f['other_address_statuses']}")
    print(f"query costs (limit {report['max_query_cost']}):")
    for where, cost in report["costs"].items():
        print(f"  {where:34} {cost}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
