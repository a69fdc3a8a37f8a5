"""Soak (bounded, loopback only): backups of three apps every few seconds while the API
serves queries. Every backup is valid, catalog and stores agree afterwards, and the
long-running processes' memory stays flat. DR_SOAK_SECONDS sets the length (default 60;
`make soak` runs 300)."""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from dr_assets.core.backup.take import run_backup
from dr_assets.core.copies.sync import sync_catalog
from dr_assets.core.copies.verify import verify_backup
from dr_assets.core.runtime import DRRuntime
from tests.support.env import DREnv
from tests.support.faults import fill
from tests.support.stack import Stack

SECONDS = float(os.environ.get("DR_SOAK_SECONDS", "60"))


def rss_mb(pid: int) -> float:
    """Resident memory of one long-running process. (The Dagster daemon replaces its code
    server child every minute by design, so children would only measure that churn.)"""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def test_soak_backups_while_the_api_serves(
    dr_env: DREnv, make_db: Callable[[str], str], stack: Stack
) -> None:
    apps = {}
    for name, rows in (("soak_a", 20_000), ("soak_b", 40_000), ("soak_c", 10_000)):
        db = make_db(name)
        fill(db, rows)
        apps[name] = db
    env = dr_env.with_apps(apps)
    rt = DRRuntime.load(str(env.config_path))
    stop = threading.Event()
    served: dict[str, int] = {"ok": 0, "bad": 0}
    viewer = stack.token("viewer")

    def query_loop() -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                for q in ("{ globalStatus { healthScore } }",
                          "{ backups(first: 20) { totalCount } }"):
                    r = client.post(f"{stack.api_url}/graphql", json={"query": q},
                                    headers={"Authorization": f"Bearer {viewer}"})
                    ok = r.status_code == 200 and not r.json().get("errors")
                    served["ok" if ok else "bad"] += 1

    api_pid = os.getpid()  # the API is served by uvicorn inside this process
    watched = {"api": api_pid, **{f"dagster-{i}": p.pid for i, p in enumerate(stack.processes)}}
    queries = threading.Thread(target=query_loop)
    queries.start()
    made: list[str] = []
    samples: list[dict[str, float]] = []
    deadline = time.monotonic() + SECONDS
    try:
        while time.monotonic() < deadline:
            for app in apps:
                m = run_backup(rt.config, app, keyring=rt.keyring, stores=rt.stores,
                               catalog=rt.catalog).manifest
                assert m.status == "completed"
                assert verify_backup(m, rt.stores, rt.catalog).ok
                made.append(m.backup_id)
            samples.append({k: rss_mb(p) for k, p in watched.items()})
            time.sleep(2)
    finally:
        stop.set()
        queries.join()
    assert len(made) >= 3 * 3 and served["ok"] > 50 and served["bad"] == 0, (len(made), served)
    # Catalog and stores agree: nothing to repair, nothing missing, nothing unknown.
    report = sync_catalog(rt.stores, rt.catalog, repair=True)
    assert report.copies_repaired == [] and report.marked_deleted == []
    assert report.unreadable == [] and report.repair_failures == []
    listed = {r.backup_id for r in rt.catalog.list_backups(statuses=["completed"])
              if r.app in apps}
    assert listed == set(made)
    # Memory flat: the median of the last third is within 25 % + 40 MB of the median of
    # the second third (the first third is warm-up).
    third = max(1, len(samples) // 3)
    for name in watched:
        middle = statistics.median(s[name] for s in samples[third : 2 * third] or samples)
        last = statistics.median(s[name] for s in samples[-third:])
        assert last <= middle * 1.25 + 40, (name, middle, last, [s[name] for s in samples])
