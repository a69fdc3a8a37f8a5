"""bench/anomalies.py at a tiny size (real PostgreSQL): over a generated history built
before migration 12 it applies the migration, times the check on every app's newest backup,
opens an alert for each backup it made anomalous, and leaves the catalog as it found it.
No figure is judged here."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from dr_assets.core.catalog.schema import MIGRATIONS
from tests.support.pg import PG_URL, run_sql

BENCH = Path(__file__).resolve().parents[2] / "bench"
HELD_COLUMNS = next(i for i, m in enumerate(MIGRATIONS, start=1)
                    if "held_reason" in str(getattr(m, "setup", m)))


def test_the_anomaly_bench_over_a_generated_history(
        catalog_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    history = importlib.import_module("catalog_history")
    bench = importlib.import_module("anomalies")
    url = f"{PG_URL}/{catalog_db}"
    history.build_history(url, apps=6, days=20, schema_version=HELD_COLUMNS - 1)
    out = bench.measure(url, repeats=2, whole=3)
    assert run_sql(catalog_db, "SELECT max(version) FROM dr.schema_version") == [
        (len(MIGRATIONS),)]
    assert out["apps"] == 6 and out["history_and_rules_ms"]["n"] == 12
    assert out["whole_check_anomaly_ms"]["n"] == 3 and out["alerts_opened"] == 3
    assert out["findings_on_the_catalog"] == 0  # the generated row counts never fall
    assert any("backups" in line for line in out["plan"])
    assert run_sql(catalog_db, "SELECT count(*) FROM dr.backups WHERE held OR anomalies"
                               " IS NOT NULL") == [(0,)]
    assert run_sql(catalog_db, "SELECT count(*) FROM dr.alerts WHERE kind = 'backup_anomaly'"
                   ) == [(0,)]
    bench.print_report(out)
