"""The anomaly check per new backup on a catalog with history (bench/catalog_history.py's).

`measure(url)` brings the catalog to the current schema (timing the migrations it applies:
on a catalog built before migration 12, adding the held-backup columns and building their
index over every backup), then, for the newest valid backup of every app taken as a new
backup:

- `history + rules`: what the check costs itself: the catalog query of the app's last
  `history` verified backups (on an open connection, as a process that keeps one would ask
  it) and the rules over them (dr_assets.core.anomalies.check.judge), per backup;
- `whole check`: the check as dr_assets.core.backup.take runs it after each backup
  (check_facts: a connection per catalog call, as Catalog has without a pool, the query,
  the rules and the write of the findings on the backup's row), on `--whole` apps with the
  backup as it is and as many with a table that lost 80 % of its rows (the previous backup
  then held and an alert opened). What it wrote is undone afterwards.

It also prints the history query's plan (it must read an index, never the table) and the
p50 / p99 / max in milliseconds. Target: at most 10 ms at p50 and p99.

Usage: .venv/bin/python bench/anomalies.py URL [--repeats 3] [--whole 100] [--json]
(build the catalog first: bench/catalog_history.py URL --apps 1000 --days 365)
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's packages, not an installed copy

from dr_assets.core.anomalies.check import BACKUP_ANOMALY, check_facts, judge  # noqa: E402
from dr_assets.core.anomalies.rules import BackupFacts  # noqa: E402
from dr_assets.core.catalog import Catalog  # noqa: E402
from dr_assets.core.catalog.holds import CONTENTS_HISTORY  # noqa: E402
from dr_assets.core.policy import AnomalyThresholds  # noqa: E402

TARGET_MS = 10.0
NEWEST = """
SELECT b.app, b.backup_id, b.started_at, b.raw_bytes, b.stored_bytes, b.row_counts
FROM dr.newest_backups n JOIN dr.backups b USING (backup_id) ORDER BY b.app
"""


def figures(ms: Sequence[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {"n": len(ordered), "p50": round(statistics.median(ordered), 2),
            "p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
            "max": round(ordered[-1], 2)}


def history_plan(catalog: Catalog, app: str, new: BackupFacts, limit: int) -> list[str]:
    with catalog.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + CONTENTS_HISTORY, {
            "app": app, "before": new.started_at, "backup_id": new.backup_id, "limit": limit})
        return [r["QUERY PLAN"] for r in cur.fetchall()]


def fallen(new: BackupFacts) -> BackupFacts:
    """The same backup with its largest table down to a fifth of its rows."""
    counts = dict(new.row_counts)
    table = max(counts, key=lambda t: counts[t])
    counts[table] //= 5
    return replace(new, row_counts=counts)


def measure(url: str, repeats: int = 3, whole: int = 100, seed: int = 7) -> dict[str, Any]:
    t = time.perf_counter()
    Catalog(url).ensure()
    migrate_s = time.perf_counter() - t
    thresholds = AnomalyThresholds()
    pooled = Catalog(url, pool_size=2)
    with pooled.cursor() as cur:
        cur.execute(NEWEST)
        newest = [(r["app"], BackupFacts(r["backup_id"], r["started_at"], r["raw_bytes"] or 0,
                                         r["stored_bytes"] or 0, dict(r["row_counts"] or {})))
                  for r in cur.fetchall()]
        cur.execute("SELECT count(*) AS n FROM dr.backups")
        backups = int(cur.fetchone()["n"])  # type: ignore[index]
    plan = history_plan(pooled, *newest[len(newest) // 2], thresholds.history)
    rng = random.Random(seed)

    timed: list[float] = []
    findings = 0
    for _ in range(repeats):
        order = newest[:]
        rng.shuffle(order)
        for app, new in order:
            t = time.perf_counter()
            rows = pooled.contents_history(app, new.started_at, new.backup_id,
                                           thresholds.history)
            verdict = judge(new, rows, thresholds)
            timed.append((time.perf_counter() - t) * 1000)
            findings += len(verdict.findings)

    chosen = rng.sample(newest, min(whole, len(newest)))
    plain = Catalog(url)
    normal_ms, anomaly_ms, opened = [], [], 0
    try:
        for app, new in chosen:
            t = time.perf_counter()
            check_facts(plain, app, new, thresholds)
            normal_ms.append((time.perf_counter() - t) * 1000)
        for app, new in chosen:
            t = time.perf_counter()
            done = check_facts(plain, app, fallen(new), thresholds)
            anomaly_ms.append((time.perf_counter() - t) * 1000)
            opened += done.alert_id is not None
    finally:  # leave the catalog as it was built
        with plain.cursor() as cur:
            ids = [new.backup_id for _, new in chosen]
            cur.execute("UPDATE dr.backups SET anomalies = NULL WHERE backup_id = ANY(%s)",
                        (ids,))
            cur.execute("UPDATE dr.backups SET held = false, held_reason = NULL, held_at = NULL,"
                        " held_by = NULL WHERE held AND app = ANY(%s)",
                        ([app for app, _ in chosen],))
            cur.execute("DELETE FROM dr.alerts WHERE kind = %s", (BACKUP_ANOMALY,))
    pooled.close()
    return {"apps": len(newest), "backups": backups, "migrate_seconds": round(migrate_s, 1),
            "history": thresholds.history, "plan": plan,
            "index_used": any("Index" in line for line in plan)
                          and not any("Seq Scan" in line for line in plan),
            "history_and_rules_ms": figures(timed), "findings_on_the_catalog": findings,
            "whole_check_normal_ms": figures(normal_ms),
            "whole_check_anomaly_ms": figures(anomaly_ms), "alerts_opened": opened}


def print_report(out: dict[str, Any]) -> None:
    print(f"catalog: {out['apps']:,} apps, {out['backups']:,} backups; migrations applied in "
          f"{out['migrate_seconds']} s")
    print("history query plan:")
    for line in out["plan"]:
        print(f"  {line}")
    print(f"  index used: {out['index_used']}")
    for key, what in (("history_and_rules_ms", "history + rules, per new backup"),
                      ("whole_check_normal_ms", "whole check (normal backup)"),
                      ("whole_check_anomaly_ms", "whole check (80 % of a table gone)")):
        f = out[key]
        verdict = ("" if key != "history_and_rules_ms" else
                   "  within target" if max(f["p50"], f["p99"]) <= TARGET_MS else "  OVER target")
        print(f"{what:<40} n={f['n']:<5} p50 {f['p50']:6.2f}  p99 {f['p99']:6.2f}  max "
              f"{f['max']:7.2f} ms{verdict}")
    print(f"findings on the generated history: {out['findings_on_the_catalog']}; alerts "
          f"opened by the anomalous checks: {out['alerts_opened']}")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("url", help="a catalog built by bench/catalog_history.py")
    p.add_argument("--repeats", type=int, default=3, help="passes over every app")
    p.add_argument("--whole", type=int, default=100, help="apps the whole check runs on")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    out = measure(args.url, args.repeats, args.whole)
    if args.json:
        print(json.dumps(out, indent=2, default=str))
    else:
        print_report(out)
    return 0 if out["index_used"] and max(out["history_and_rules_ms"]["p50"],
                                          out["history_and_rules_ms"]["p99"]) <= TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
