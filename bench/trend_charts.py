"""The status page's trend charts and the report's Trends on a catalog with history
(bench/catalog_history.py's: at 1,000 apps a year is ~2.1 M backups and 12,000 drills).

`measure(url, config)` times, on one pooled connection as the API keeps them, each chart
query (dr_assets.core.catalog.history) over a 90-day and a 366-day window: an app's drill
times and backup sizes (for `--apps` apps picked at random, each asked `--repeats` times)
and the estate's storage by day (`--repeats` times); then a whole chart route's work (the
query and the SVG: dr_assets.core.health.trend_history) and the Trends of a month's
compliance report (every app's two charts and the storage chart: three queries). It prints
each query's plan (indexes or a sequential scan), median, p99 and max in milliseconds, and
the SVG sizes.

Usage: .venv/bin/python bench/trend_charts.py URL CONFIG [--apps 200] [--repeats 5] [--json]
(build the catalog first: bench/catalog_history.py URL --apps 1000 --days 365, and its
dr.toml with --config)
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's packages, not an installed copy

from dr_assets.core.catalog import Catalog  # noqa: E402
from dr_assets.core.catalog.history import (  # noqa: E402
    BACKUP_SIZES_SQL,
    DRILL_TIMES_SQL,
    STORAGE_BY_DAY_SQL,
    storage_args,
)
from dr_assets.core.charts.svg import render_trend_svg  # noqa: E402
from dr_assets.core.health.trend_charts import BACKUP_SIZES, RESTORE_TIME  # noqa: E402
from dr_assets.core.health.trend_history import (  # noqa: E402
    app_trend,
    estate_charts,
    storage_trend,
)
from dr_assets.core.policy import load_config  # noqa: E402

WINDOWS = (90, 366)


def figures(ms: Sequence[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {"n": len(ordered), "p50": round(statistics.median(ordered), 2),
            "p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
            "max": round(ordered[-1], 2)}


def timed(work: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    t = time.perf_counter()
    out = work(*args)
    return (time.perf_counter() - t) * 1000, out


def plan(catalog: Catalog, query: str, args: dict[str, Any]) -> list[str]:
    """EXPLAIN ANALYZE as the query runs (JIT off, as storage_by_day sets it), the list of
    a thousand app names shortened in the printout."""
    with catalog.cursor() as cur:
        cur.execute("SET LOCAL jit = off")
        cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + query, args)
        lines = [r["QUERY PLAN"] for r in cur.fetchall()]
    return [re.sub(r"'\{([^,}]+,){3}[^}]*\}'", "'{app_...}'", line) for line in lines]


def plans(catalog: Catalog, app: str, apps: list[str], first: date, now: datetime
          ) -> dict[str, list[str]]:
    """The three queries' plans over a window from `first` to now."""
    since = datetime.combine(first, clock(), UTC)
    one = {"apps": [app], "since": since, "until": now}
    return {"drill_times": plan(catalog, DRILL_TIMES_SQL, one),
            "backup_sizes": plan(catalog, BACKUP_SIZES_SQL, one),
            "storage_by_day": plan(catalog, STORAGE_BY_DAY_SQL,
                                   storage_args(apps, first, now.date()))}


def measure(url: str, config_path: str, apps: int = 200, repeats: int = 5, seed: int = 7,
            now: datetime | None = None) -> dict[str, Any]:
    config = load_config(config_path)
    catalog = Catalog(url, pool_size=2)
    catalog.ensure()
    now = now or datetime.now(UTC)
    names = list(config.apps)
    rng = random.Random(seed)
    picked = rng.sample(names, min(apps, len(names)))
    with catalog.cursor() as cur:
        cur.execute("SELECT count(*) AS b, (SELECT count(*) FROM dr.drills) AS d FROM dr.backups")
        counts = cur.fetchone()
    out: dict[str, Any] = {"apps": len(names), "backups": int(counts["b"]),
                           "drills": int(counts["d"]), "sampled_apps": len(picked)}
    for days in WINDOWS:
        first = now.date() - timedelta(days=days - 1)
        since = datetime.combine(first, clock(), UTC)
        drill_ms, size_ms, storage_ms, rows = [], [], [], 0
        for _ in range(repeats):
            for app in picked:
                ms, got = timed(catalog.drill_times, [app], since, now)
                drill_ms.append(ms)
                ms, sizes = timed(catalog.backup_sizes, [app], since, now)
                size_ms.append(ms)
                rows += len(got) + len(sizes)
            ms, _ = timed(catalog.storage_by_day, names, first, now.date())
            storage_ms.append(ms)
        route_ms, svg_bytes = [], []
        for app in picked[:50]:
            for chart in (RESTORE_TIME, BACKUP_SIZES):
                ms, svg = timed(app_trend, chart, config, catalog, app, now, days)
                route_ms.append(ms)
                svg_bytes.append(len(svg))
        ms, storage_svg = timed(storage_trend, config, catalog, now, days)
        out[f"days_{days}"] = {
            "drill_times_ms": figures(drill_ms), "backup_sizes_ms": figures(size_ms),
            "storage_by_day_ms": figures(storage_ms), "rows_per_app_and_pass":
                round(rows / (repeats * len(picked)), 1),
            "chart_route_ms": figures(route_ms),
            "app_svg_bytes": {"median": int(statistics.median(svg_bytes)),
                              "max": max(svg_bytes)},
            "storage_route_ms": round(ms, 2), "storage_svg_bytes": len(storage_svg),
        }
    month_last = date(now.year, now.month, 1) - timedelta(days=1)  # the last whole month
    month_first = month_last.replace(day=1)
    end = datetime.combine(month_last + timedelta(days=1), clock(), UTC)
    report_ms, charts = timed(estate_charts, config, catalog, month_first, month_last, end)
    render_ms, svgs = timed(lambda: [render_trend_svg(c) for c in charts])
    out["report_trends"] = {"month": f"{month_first:%Y-%m}", "charts": len(charts),
                            "queries_ms": round(report_ms, 1), "render_ms": round(render_ms, 1),
                            "html_bytes": sum(len(s) for s in svgs)}
    out["plans"] = plans(catalog, picked[0], names, now.date() - timedelta(days=365), now)
    catalog.close()
    return out


def print_report(out: dict[str, Any]) -> None:
    print(f"catalog: {out['apps']:,} apps, {out['backups']:,} backups, {out['drills']:,} "
          f"drills; {out['sampled_apps']} apps sampled")
    for days in WINDOWS:
        w = out[f"days_{days}"]
        print(f"window of {days} days ({w['rows_per_app_and_pass']} rows per app):")
        for key in ("drill_times_ms", "backup_sizes_ms", "storage_by_day_ms", "chart_route_ms"):
            f = w[key]
            print(f"  {key.removesuffix('_ms'):<16} n={f['n']:<5} median {f['p50']:8.2f}  "
                  f"p99 {f['p99']:8.2f}  max {f['max']:8.2f} ms")
        print(f"  storage route {w['storage_route_ms']} ms; SVG bytes: app median "
              f"{w['app_svg_bytes']['median']:,}, max {w['app_svg_bytes']['max']:,}, storage "
              f"{w['storage_svg_bytes']:,}")
    r = out["report_trends"]
    print(f"report Trends for {r['month']}: {r['charts']} charts, queries {r['queries_ms']} ms,"
          f" SVG {r['render_ms']} ms, {r['html_bytes']:,} bytes of SVG")
    for name, lines in out["plans"].items():
        print(f"plan of {name} (366 days):")
        for line in lines:
            print(f"  {line}")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("url", help="a catalog built by bench/catalog_history.py")
    p.add_argument("config", help="its dr.toml (catalog_history.py --config)")
    p.add_argument("--apps", type=int, default=200, help="apps whose charts are timed")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    out = measure(args.url, args.config, args.apps, args.repeats)
    print(json.dumps(out, indent=2, default=str) if args.json else "", end="")
    if not args.json:
        print_report(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
