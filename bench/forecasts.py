"""The estate's forecasts on a catalog with history (bench/catalog_history.py's year of
history for 1,000 apps): `estate_forecast` for every app at once, as the alert sensor runs
it each minute and the API once a minute.

`measure(url, config)` times, median of --repeats runs: the whole computation; the binned
catalog reads alone (Catalog.forecast_history: five statements for the whole estate); and
what is left, the fits (three Theil-Sen lines per app over at most 32 bins each). It prints
the plans' index use of the backup reads (they must read backups_started_stored and
backups_deleted_stored, never the table), how many lines came out, how many cross their
limit within the window and within alert_days_ahead. Target: whole estate <= 1 s.

Usage: .venv/bin/python bench/forecasts.py URL CONFIG [--repeats 5] [--json]
       .venv/bin/python bench/forecasts.py --build [--apps 1000] [--days 365] [--repeats 5]
(--build makes the catalog in the database dr_bench_forecasts and drops it afterwards)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's packages, not an installed copy
sys.path.insert(0, str(ROOT / "bench"))

from dr_assets.core.catalog import Catalog  # noqa: E402
from dr_assets.core.catalog.forecasts import _DELETED, _STARTED  # noqa: E402
from dr_assets.core.health.forecasts import estate_forecast  # noqa: E402
from dr_assets.core.policy import load_config  # noqa: E402

TARGET_S = 1.0
PG = "postgresql://postgres@127.0.0.1:5432"
BENCH_DB = "dr_bench_forecasts"


def _plan(catalog: Catalog, query: str, args: dict[str, Any]) -> list[str]:
    with catalog.cursor() as cur:
        cur.execute("EXPLAIN " + query, args)
        return [r["QUERY PLAN"].strip() for r in cur.fetchall()
                if "Scan" in r["QUERY PLAN"]]


def measure(url: str, config_path: Path, repeats: int = 5) -> dict[str, Any]:
    config = load_config(config_path)
    catalog = Catalog(url, pool_size=1)
    catalog.ensure()
    window = timedelta(days=config.forecasts.window_days)
    whole, reads = [], []
    forecast = None
    for _ in range(repeats):
        now = datetime.now(UTC)
        t = time.perf_counter()
        forecast = estate_forecast(config, catalog, now)
        whole.append(time.perf_counter() - t)
        t = time.perf_counter()
        catalog.forecast_history(list(config.apps), list(config.servers), now, window)
        reads.append(time.perf_counter() - t)
    assert forecast is not None
    now = datetime.now(UTC)
    args = {"apps": list(config.apps), "since": now - window, "until": now,
            "width": window.total_seconds() / 32, "bins": 32}
    with catalog.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM dr.backups")
        backups = int(cur.fetchone()["n"])  # type: ignore[index]
    lines = [line for app in forecast.apps.values()
             for line in (app.restore, app.dump_size, app.storage) if line is not None]
    whole_s, reads_s = statistics.median(whole), statistics.median(reads)
    return {
        "apps": len(config.apps), "backups": backups, "window_days": window.days,
        "repeats": repeats, "whole_s": round(whole_s, 3), "whole_max_s": round(max(whole), 3),
        "catalog_reads_s": round(reads_s, 3), "fits_s": round(max(0.0, whole_s - reads_s), 3),
        "lines": len(lines),
        "restore_crossing_rto": sum(1 for a in forecast.apps.values()
                                    if a.restore and a.restore.crosses_on),
        "restore_alerts": sum(1 for a in forecast.apps.values()
                              if forecast.within_alert(a.restore) is not None),
        "storage_now_gib": round(forecast.storage.now_value / (1 << 30), 1)
        if forecast.storage else None,
        "storage_gib_per_day": round(forecast.storage.slope_per_day / (1 << 30), 2)
        if forecast.storage else None,
        "plans": {"started": _plan(catalog, _STARTED, args),
                  "deleted": _plan(catalog, _DELETED, args)},
        "target_s": TARGET_S, "pass": whole_s <= TARGET_S,
    }


def print_report(out: dict[str, Any]) -> None:
    print(f"forecasts: {out['apps']} apps, {out['backups']} backups, window "
          f"{out['window_days']} days, median of {out['repeats']}")
    print(f"  whole estate   {out['whole_s']:.3f} s (max {out['whole_max_s']:.3f} s; target "
          f"<= {out['target_s']:g} s: {'pass' if out['pass'] else 'FAIL'})")
    print(f"  catalog reads  {out['catalog_reads_s']:.3f} s;  fits {out['fits_s']:.3f} s; "
          f"{out['lines']} lines")
    print(f"  restore over the RTO within the window: {out['restore_crossing_rto']} apps, "
          f"within alert_days_ahead: {out['restore_alerts']}")
    print(f"  storage now {out['storage_now_gib']} GiB, {out['storage_gib_per_day']} GiB/day")
    for name, plan in out["plans"].items():
        print(f"  plan ({name}): " + " | ".join(plan))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("url", nargs="?")
    p.add_argument("config", nargs="?", type=Path)
    p.add_argument("--build", action="store_true")
    p.add_argument("--apps", type=int, default=1000)
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.build:
        from catalog_history import build_history, plan_apps, write_config

        url = f"{PG}/{BENCH_DB}"
        build_history(url, apps=args.apps, days=args.days, replace=True,
                      log=lambda m: print(m, file=sys.stderr))
        with tempfile.TemporaryDirectory(prefix="dr-bench-forecasts-") as tmp:
            config = write_config(Path(tmp) / "dr.toml", url, plan_apps(args.apps))
            out = measure(url, config, args.repeats)
        import psycopg2

        conn = psycopg2.connect(f"{PG}/postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.close()
    else:
        if not args.url or not args.config:
            p.error("give URL and CONFIG, or --build")
        out = measure(args.url, args.config, args.repeats)
    print(json.dumps(out, indent=2, default=str)) if args.json else print_report(out)
    return 0 if out["pass"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
