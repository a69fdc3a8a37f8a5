"""One slow dependency against the rest of the API: a catalog query held by a lock, and a
Dagster that accepts connections and never answers.

Starts the API (one uvicorn worker, as bench/api_load.py does) on a fresh catalog database
`dr_bench_stall`, its Dagster URL pointing at a local listener that accepts and stays silent,
then:

1. keeps an anonymous globalStatus in the response cache, takes an ACCESS EXCLUSIVE lock on
   dr.backups in another session and sends a viewer's `backups` query, which waits for the
   lock (seen in pg_stat_activity). For `--hold` seconds it times /healthz and the cached
   globalStatus over and over, and one healthCheck; then it releases the lock and reports
   how long the blocked query took and whether it answered.
2. sends `--flood` healthCheck calls at once, then as many again: it prints how long they
   took and how many connections the silent Dagster accepted (one probe per keep window
   means one connection for both floods).

Usage: .venv/bin/python bench/api_stall.py [--hold 5] [--flood 10] [--json]
"""

from __future__ import annotations

import argparse
import json
import secrets
import socket
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from api_load import start_api, stop_api, write_config  # noqa: E402
from pgserver import Server  # noqa: E402

from dr_assets.core.access.tokens import mint_token  # noqa: E402
from dr_assets.core.policy import load_config  # noqa: E402

CATALOG_DB = "dr_bench_stall"
WORK = HERE / ".cache" / "api_stall"
STATUS = "{ globalStatus { healthScore appsTotal } }"
BLOCKED = "{ backups(first: 5) { totalCount } }"
HEALTH = "{ healthCheck { ok components { name ok detail } } }"


class SilentListener:
    """Accepts TCP connections, counts them, never sends a byte."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = int(self.sock.getsockname()[1])
        self.accepted = 0
        self._held: list[socket.socket] = []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self._held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self._held:
            conn.close()


_clients = threading.local()


def client() -> httpx.Client:
    """This thread's keep-alive client (making one costs more than a request)."""
    if not hasattr(_clients, "client"):
        _clients.client = httpx.Client(timeout=120)
    return _clients.client  # type: ignore[no-any-return]


def post(url: str, query: str, token: str | None = None) -> tuple[float, int, dict[str, Any]]:
    """(seconds, HTTP status, JSON body) of one GraphQL POST."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    started = time.monotonic()
    resp = client().post(f"{url}/graphql", json={"query": query}, headers=headers)
    return time.monotonic() - started, resp.status_code, resp.json()


def get(url: str) -> float:
    started = time.monotonic()
    client().get(url).raise_for_status()
    return time.monotonic() - started


def ms(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    return {"n": len(values), "median_ms": round(1000 * statistics.median(values), 1),
            "max_ms": round(1000 * max(values), 1)}


def waiting_on_lock(server: Server) -> bool:
    return bool(server.scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'"
        " AND query LIKE %s", (CATALOG_DB, "%dr.backups%")))


def blocked_phase(server: Server, url: str, viewer: str, hold: float) -> dict[str, Any]:
    post(url, STATUS)  # kept from now on
    idle = [get(f"{url}/healthz") for _ in range(20)]
    idle_cached = [post(url, STATUS)[0] for _ in range(20)]
    locker = server.connect(CATALOG_DB)
    locker.autocommit = False
    with locker.cursor() as cur:
        cur.execute("LOCK TABLE dr.backups IN ACCESS EXCLUSIVE MODE")
    locked_at = time.monotonic()
    blocked: dict[str, Any] = {}

    def run_blocked() -> None:
        seconds, status, body = post(url, BLOCKED, viewer)
        blocked.update(seconds=round(seconds, 2), status=status,
                       answered=status == 200 and not body.get("errors"),
                       total_count=(body.get("data") or {}).get("backups", {}).get("totalCount"))

    thread = threading.Thread(target=run_blocked)
    thread.start()
    while not waiting_on_lock(server) and time.monotonic() - locked_at < 10:
        time.sleep(0.02)
    released = threading.Event()
    healthz: list[float] = []
    cached: list[float] = []
    health: dict[str, Any] = {}

    def sample() -> None:
        while not released.is_set():
            healthz.append(get(f"{url}/healthz"))
            seconds, status, _ = post(url, STATUS)
            if status == 200:
                cached.append(seconds)

    def check() -> None:
        seconds, _, body = post(url, HEALTH)
        down = [c["name"] for c in body["data"]["healthCheck"]["components"] if not c["ok"]]
        health.update(seconds=round(seconds, 2), down=down,
                      during_lock=not released.is_set())

    samplers = [threading.Thread(target=sample), threading.Thread(target=check)]
    for t in samplers:
        t.start()
    time.sleep(max(0.0, hold - (time.monotonic() - locked_at)))
    locker.rollback()
    locker.close()
    released.set()
    for t in (*samplers, thread):
        t.join()
    return {"hold_s": hold, "healthz_unlocked": ms(idle), "healthz": ms(healthz),
            "cached_global_status_unlocked": ms(idle_cached), "cached_global_status": ms(cached),
            "health_check": health, "blocked_query": blocked}


def flood_phase(url: str, listener: SilentListener, flood: int, keep: float
                ) -> dict[str, Any]:
    time.sleep(keep)  # what the healthCheck above kept is gone
    rounds = []
    pool = ThreadPoolExecutor(max_workers=flood)
    list(pool.map(lambda _: get(f"{url}/healthz"), range(flood)))  # each thread's client
    for _ in range(2):
        before = listener.accepted
        started = time.monotonic()
        answers = list(pool.map(lambda _: post(url, HEALTH), range(flood)))
        dagster = [next(c for c in body["data"]["healthCheck"]["components"]
                        if c["name"] == "dagster") for _, _, body in answers]
        rounds.append({"calls": flood, "wall_s": round(time.monotonic() - started, 2),
                       "slowest_s": round(max(a[0] for a in answers), 2),
                       "dagster_down": all(not d["ok"] for d in dagster),
                       "dagster_connections": listener.accepted - before})
    pool.shutdown()
    return {"floods": rounds}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--hold", type=float, default=5.0,
                        help="seconds the lock on dr.backups is held (default 5)")
    parser.add_argument("--flood", type=int, default=10,
                        help="healthCheck calls sent at once (default 10)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="PostgreSQL server URL (default: %(default)s)")
    args = parser.parse_args(argv)
    server = Server(args.server)
    if server.exists(CATALOG_DB):
        server.drop(CATALOG_DB)
    server.create(CATALOG_DB)
    listener = SilentListener()
    api = None
    try:
        config = write_config(WORK, server.url(CATALOG_DB), cache_seconds=60)
        config.write_text(config.read_text().replace(
            'dagster_url = "http://127.0.0.1:9"', f'dagster_url = "http://127.0.0.1:{listener.port}"'))
        secret = secrets.token_hex(32)
        settings = load_config(config).api
        viewer = mint_token(secret, settings, "bench-viewer", "viewer", 3600)
        keep = float(getattr(settings, "health_keep_seconds", 0))  # older APIs keep nothing
        api = start_api(config, secret, access_log=False)
        report = {"blocked_catalog": blocked_phase(server, api.url, viewer, args.hold),
                  "silent_dagster": flood_phase(api.url, listener, args.flood, keep)}
    finally:
        if api is not None:
            stop_api(api)
        listener.close()
        server.drop(CATALOG_DB)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    b, f = report["blocked_catalog"], report["silent_dagster"]["floods"]
    print(f"catalog query held by a lock for {b['hold_s']:g} s:")
    print(f"  /healthz before the lock:        {b['healthz_unlocked']}")
    print(f"  /healthz meanwhile:              {b['healthz']}")
    print(f"  cached globalStatus before:      {b['cached_global_status_unlocked']}")
    print(f"  cached globalStatus meanwhile:   {b['cached_global_status']}")
    print(f"  healthCheck meanwhile:           {b['health_check']}")
    print(f"  the blocked query:               {b['blocked_query']}")
    print("Dagster accepting and never answering:")
    for i, r in enumerate(f, 1):
        print(f"  flood {i}: {r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
