"""Scale benchmark: the control plane at 100, 1,000 and 5,000 apps.

For each size, a dr.toml from bench/estate.py (four cadences, four source servers):
- the code location's load: `dagster definitions validate -m dr_assets.definitions` (what
  Dagster's code server does), wall seconds and peak RSS, median of --repeats;
- a backup run's own overhead at that size: a run of one app's backup created as the run
  queue does (its cadence's job, the app's asset selected) and executed by `dagster api
  execute_run`, the run worker every run launcher starts (a subprocess, or a pod's command
  under the Kubernetes launcher), from process start to the moment its pg_dump connects
  (pg_stat_activity's backend_start), median of --repeats; the dump (a small database) and
  the checks after it are not counted.
Then the growth exponent of each figure between sizes (1.0 = linear), and the targets:
<= 15 s and <= 600 MB at 1,000 apps, <= 60 s at 5,000, run overhead <= 5 s at 1,000.
Load is also given in CPU seconds: on this noisy 2-core machine they move less than wall.

And, at 1,000 apps:
- the dashboard queries (globalStatus, apps, executiveSummary, the backups page) on a year
  of history (bench/catalog_history.py: about 2 M backups, 12,000 drills, 500,000 audit
  rows), uncached and cached p50 and p99 through the API (bench/dashboard_queries.py), with
  their target (uncached p99 <= 100 ms); at every size also on a month of history, whose
  worst p99s give the queries' growth; on the same year, the contents check per new backup
  (bench/anomalies.py: the history query and the rules, target p50 and p99 <= 10 ms);
- the hourly `catalog sync` (bench/sync_cost.py's measure: 2,000 backups of 1,000 apps in
  two stores beside a WAL archive): seconds and copies read, steady and with one new backup.

Usage: .venv/bin/python bench/scale.py [--sizes 100,1000,5000] [--repeats 3] [--json]
                                       [--no-history] [--no-sync]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg2

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from estate import write_estate  # noqa: E402

from dr_assets.core.policy import load_config  # noqa: E402
from dr_assets.core.runs import backup_partition  # noqa: E402

PG = "postgresql://postgres@127.0.0.1:5432"
CATALOG_DB = "dr_bench_scale"
SOURCE_DB = "dr_bench_scale_source"
BIN = Path(sys.executable).parent
TARGETS = {"load_seconds_1000": 15.0, "load_mb_1000": 600.0, "load_seconds_5000": 60.0,
           "run_overhead_seconds_1000": 5.0, "dashboard_uncached_p99_ms_1000": 100.0,
           "anomaly_check_p99_ms_1000": 10.0}


def admin(statement: str, db: str = "postgres") -> list[tuple[Any, ...]]:
    conn = psycopg2.connect(f"{PG}/{db}")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def timed_child(argv: list[str], env: dict[str, str], cwd: Path
                ) -> tuple[float, float, int, float]:
    """(wall seconds, peak RSS in MB, exit code, CPU seconds) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0 and proc.stderr is not None:
        sys.stderr.write(proc.stderr.read().decode()[-2000:])
    return wall, usage.ru_maxrss / 1024, proc.returncode, usage.ru_utime + usage.ru_stime


def load_figures(config: Path, repeats: int) -> dict[str, float]:
    env = {**os.environ, "DR_CONFIG": str(config), "DAGSTER_HOME": str(config.parent / "dh")}
    (config.parent / "dh").mkdir(exist_ok=True)
    runs = [timed_child([str(BIN / "dagster"), "definitions", "validate", "-m",
                         "dr_assets.definitions"], env, config.parent) for _ in range(repeats)]
    if any(rc != 0 for _, _, rc, _ in runs):
        raise SystemExit(f"dagster definitions validate failed for {config}")
    return {"load_seconds": statistics.median(w for w, _, _, _ in runs),
            "load_cpu_seconds": statistics.median(c for _, _, _, c in runs),
            "load_mb": statistics.median(m for _, m, _, _ in runs)}


def first_dump_connection(since: datetime, stop: threading.Event) -> datetime | None:
    """backend_start of the first pg_dump session on SOURCE_DB that began after SINCE."""
    while not stop.is_set():
        rows = admin(f"SELECT min(backend_start) FROM pg_stat_activity WHERE datname = "
                     f"'{SOURCE_DB}' AND application_name = 'pg_dump' AND backend_start > "
                     f"'{since.isoformat()}'")
        if rows and rows[0][0] is not None:
            return rows[0][0]  # type: ignore[no-any-return]
        time.sleep(0.02)
    return None


def _watch(since: datetime, stop: threading.Event, found: list[datetime | None]) -> None:
    found.append(first_dump_connection(since, stop))


def worker_args(config: Path, instance_dir: Path) -> tuple[str, str]:
    """A backup run of the estate's app on SOURCE_DB, created in a throwaway instance as the
    run queue would (its cadence's job, the app's asset selected, the window's partition):
    (the run worker's ExecuteRunArgs as JSON, the app)."""
    import dagster as dg
    from dagster._core.definitions.reconstruct import ReconstructableRepository
    from dagster._grpc.types import ExecuteRunArgs
    from dagster._serdes import serialize_value

    from dr_assets.core.runs import backup_launch
    from dr_assets.definitions import build_definitions

    cfg = load_config(config)
    app = next(a for a, p in cfg.apps.items() if p.database_url.endswith(f"/{SOURCE_DB}"))
    policy = cfg.apps[app]
    launch = backup_launch(policy, backup_partition(policy, datetime.now(UTC)))
    key = dg.AssetKey(list(launch.asset_selection[0]))
    job = build_definitions(str(config)).resolve_job_def(launch.job).get_subset(
        asset_selection={key})
    origin = ReconstructableRepository.for_module(
        "dr_assets.definitions", "defs", working_directory=str(ROOT)
    ).get_reconstructable_job(launch.job).get_python_origin()
    instance_dir.mkdir(parents=True, exist_ok=True)
    instance = dg.DagsterInstance.local_temp(str(instance_dir))
    run = instance.create_run_for_job(job_def=job, tags=dict(launch.tags),
                                      asset_selection={key}, job_code_origin=origin)
    return serialize_value(ExecuteRunArgs(job_origin=origin, run_id=run.run_id,
                                          instance_ref=instance.get_ref())), app


def run_overhead(config: Path, repeats: int) -> float:
    """Median seconds from a run worker's start (`dagster api execute_run`, what the run
    launcher starts, in a process or a pod) to its pg_dump's connection."""
    env = {**os.environ, "DR_CONFIG": str(config)}
    figures = []
    for i in range(repeats):
        args, app = worker_args(config, config.parent / f"instance-{i}")
        stop = threading.Event()
        found: list[datetime | None] = []
        watcher = threading.Thread(target=_watch, args=(datetime.now(UTC), stop, found))
        watcher.start()
        started = datetime.now(UTC)
        proc = subprocess.run([str(BIN / "dagster"), "api", "execute_run", args], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=600)
        stop.set()
        watcher.join()
        if proc.returncode != 0 or not found or found[0] is None:
            raise SystemExit(f"the backup run of {app} failed: {proc.stderr[-2000:]}")
        figures.append((found[0] - started).total_seconds())
    return statistics.median(figures)


HISTORY_DB = "dr_bench_scale_history"
DASHBOARD_TARGET_MS = 100.0


def dashboard_figures(apps: int, days: int, repeats: int) -> dict[str, Any]:
    """DAYS of history for APPS apps, then the dashboard queries' p50 and p99 on it."""
    from catalog_history import build_history, plan_apps, write_config
    from dashboard_queries import measure

    url = f"{PG}/{HISTORY_DB}"
    built = build_history(url, apps=apps, days=days, replace=True)
    with tempfile.TemporaryDirectory(prefix="dr-bench-history-") as tmp:
        config = write_config(Path(tmp) / "dr.toml", url, plan_apps(apps))
        queries = measure(url, config, repeats=repeats)
    from anomalies import measure as anomaly_check  # the contents check on the same year

    contents = anomaly_check(url)
    admin(f'DROP DATABASE IF EXISTS "{HISTORY_DB}" WITH (FORCE)')
    return {"backups": sum(built["backups_by_status"].values()), "queries": queries,
            "anomaly_check": contents,
            "uncached_p99_pass": all(q["uncached"]["p99_ms"] <= DASHBOARD_TARGET_MS
                                     for q in queries.values())}


def growth(sizes: list[int], values: list[float]) -> list[float]:
    return [round(math.log(b / a) / math.log(m / n), 2)
            for (n, a), (m, b) in zip(zip(sizes, values, strict=True),
                                      zip(sizes[1:], values[1:], strict=True), strict=False)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100,1000,5000")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-sync", action="store_true", help="skip the catalog sync figures")
    ap.add_argument("--no-history", action="store_true",
                    help="skip the year of history and the dashboard queries")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    admin(f'DROP DATABASE IF EXISTS "{SOURCE_DB}" WITH (FORCE)')
    admin(f'CREATE DATABASE "{SOURCE_DB}"')
    admin("CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 1000) g",
          SOURCE_DB)
    admin(f'DROP DATABASE IF EXISTS "{CATALOG_DB}" WITH (FORCE)')
    results: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="dr-bench-scale-") as tmp:
        for n in sizes:
            root = Path(tmp) / str(n)
            root.mkdir()
            config = write_estate(root, n, f"{PG}/{CATALOG_DB}", database=SOURCE_DB)
            repeats = args.repeats if n <= 1000 else 1
            figures = load_figures(config, repeats)
            figures["run_overhead_seconds"] = run_overhead(config, repeats)
            if not args.no_history:  # a month of history at every size: the growth
                month = dashboard_figures(n, 30, repeats=20)["queries"]
                figures["dashboard_uncached_p99_ms"] = max(
                    q["uncached"]["p99_ms"] for q in month.values())
                figures["dashboard_cached_p99_ms"] = max(
                    q["cached"]["p99_ms"] for q in month.values())
            results[n] = figures
            if not args.json:
                print(f"{n:>6} apps: load {figures['load_seconds']:6.1f} s "
                      f"({figures['load_cpu_seconds']:.1f} CPU s), "
                      f"{figures['load_mb']:6.0f} MB peak; backup run overhead "
                      f"{figures['run_overhead_seconds']:5.2f} s"
                      + (f"; dashboard p99 on a month of history, uncached "
                         f"{figures['dashboard_uncached_p99_ms']:.0f} ms, cached "
                         f"{figures['dashboard_cached_p99_ms']:.1f} ms"
                         if "dashboard_uncached_p99_ms" in figures else ""), flush=True)
    admin(f'DROP DATABASE IF EXISTS "{SOURCE_DB}" WITH (FORCE)')
    admin(f'DROP DATABASE IF EXISTS "{CATALOG_DB}" WITH (FORCE)')
    report: dict[str, Any] = {"sizes": results, "growth": {
        k: growth(sizes, [results[n][k] for n in sizes])
        for k in ("load_seconds", "load_cpu_seconds", "load_mb", "run_overhead_seconds",
                  "dashboard_uncached_p99_ms", "dashboard_cached_p99_ms")
        if all(k in results[n] for n in sizes)}}
    if not args.no_history:  # and the year the issue sizes the catalog for
        report["dashboard_1000_apps"] = dashboard_figures(1000, 365, repeats=50)
    if not args.no_sync:
        from sync_cost import measure as sync_cost

        sync = sync_cost(backups=2000, apps=1000, object_bytes=16 << 10, wal_keys=2000)
        report["sync_1000_apps"] = {k: {"seconds": round(sync[k]["seconds"], 2),
                                        "objects_read": sync[k]["objects_read"]}
                                    for k in ("first", "steady", "one_new")}
    checks = {}
    if 1000 in results:
        checks["load_seconds_1000"] = results[1000]["load_seconds"]
        checks["load_mb_1000"] = results[1000]["load_mb"]
        checks["run_overhead_seconds_1000"] = results[1000]["run_overhead_seconds"]
    if 5000 in results:
        checks["load_seconds_5000"] = results[5000]["load_seconds"]
    if "dashboard_1000_apps" in report:
        contents = report["dashboard_1000_apps"]["anomaly_check"]["history_and_rules_ms"]
        checks["anomaly_check_p99_ms_1000"] = max(contents["p50"], contents["p99"])
        worst = max(q["uncached"]["p99_ms"] for q in report["dashboard_1000_apps"][
            "queries"].values())
        checks["dashboard_uncached_p99_ms_1000"] = worst
    report["targets"] = {k: {"value": round(v, 2), "target": TARGETS[k],
                             "pass": v <= TARGETS[k]} for k, v in checks.items()}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print("growth exponents between sizes (1.0 = linear): " + ", ".join(
        f"{k} {v}" for k, v in report["growth"].items()))
    if "dashboard_1000_apps" in report:
        from dashboard_queries import print_report

        print_report(report["dashboard_1000_apps"]["queries"],
                     f"dashboard queries at 1,000 apps, "
                     f"{report['dashboard_1000_apps']['backups']:,} backups")
        from anomalies import print_report as print_anomalies

        print_anomalies(report["dashboard_1000_apps"]["anomaly_check"])
    for k, v in report.get("sync_1000_apps", {}).items():
        print(f"catalog sync at 1,000 apps, {k}: {v['seconds']} s, {v['objects_read']} "
              "copies read")
    for k, t in report["targets"].items():
        print(f"{k}: {t['value']} (target <= {t['target']}) {'PASS' if t['pass'] else 'FAIL'}")


if __name__ == "__main__":
    main()
