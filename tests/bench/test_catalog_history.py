"""bench/catalog_history.py and bench/dashboard_queries.py at a tiny size (real PostgreSQL,
the API in-process): the generated catalog has the schema the migrations make, manifests
the restore code reads, an audit chain that verifies and the mix of outcomes a year has;
its dr.toml loads, and the dashboard queries answer over it. No figure is judged here."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest

from dr_assets.core.catalog import Catalog
from dr_assets.core.format.manifest import BackupManifest
from dr_assets.core.health.estate import estate_status
from dr_assets.core.policy import load_config
from tests.support.per_app import NEWEST_MISMATCH, TOTALS_MISMATCH
from tests.support.pg import PG_URL, run_sql

BENCH = Path(__file__).resolve().parents[2] / "bench"
SCHEMA = """
SELECT 'index', indexdef FROM pg_indexes WHERE schemaname = 'dr'
UNION ALL SELECT 'constraint', conrelid::regclass || ' ' || pg_get_constraintdef(oid)
    FROM pg_constraint WHERE connamespace = 'dr'::regnamespace
UNION ALL SELECT 'trigger', tgrelid::regclass || ' ' || tgname FROM pg_trigger
    WHERE tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'dr'::regnamespace)
      AND NOT tgisinternal
ORDER BY 1, 2"""


def _bench(monkeypatch: pytest.MonkeyPatch, name: str) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH))
    return importlib.import_module(name)


def test_a_generated_history_is_a_catalog_like_any_other(
    catalog_db: str, make_db: Callable[[str], str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    history = _bench(monkeypatch, "catalog_history")
    url = f"{PG_URL}/{catalog_db}"
    now = datetime.now(UTC).replace(microsecond=0)
    monkeypatch.setattr(history, "AUDIT_CHUNK", 100)  # the chain goes on across COPY chunks
    built = history.build_history(url, apps=12, days=40, now=now)
    specs = history.plan_apps(12)
    scheduled = sum(40 * 24 // s.every_hours for s in specs)
    assert abs(built["rows"]["backups"] - (scheduled + 12)) <= 24  # and one on demand each
    statuses = built["backups_by_status"]
    assert statuses["completed"] > statuses["failed"] > 0 and statuses["deleted"] > 0
    assert 12 <= built["rows"]["drills"] <= 24  # monthly, on the 1st
    assert built["rows"]["audit_log"] == round(500 * 12 * 40 / 365)

    fresh = make_db("fresh")
    Catalog(f"{PG_URL}/{fresh}").ensure()
    assert run_sql(catalog_db, SCHEMA) == run_sql(fresh, SCHEMA)  # nothing set aside is lost
    assert run_sql(catalog_db, TOTALS_MISMATCH) == run_sql(catalog_db, NEWEST_MISMATCH) == []

    catalog = Catalog(url)
    assert catalog.verify_audit_chain().ok  # the compliance report verifies it
    newest = catalog.list_backups(app=specs[0].name, statuses=["completed"], limit=1)[0]
    assert newest.manifest is not None and newest.server_version == "15.8"
    assert BackupManifest.from_json(json.dumps(newest.manifest)).to_dict() == newest.manifest
    assert set(newest.copies) == {"s3", "local"}
    assert run_sql(catalog_db, "SELECT count(*) FROM dr.backups WHERE status = 'deleted'"
                               " AND deleted_at < started_at + interval '30 days'") == [(0,)]

    config = load_config(history.write_config(tmp_path / "dr.toml", url, specs))
    assert list(config.apps) == [s.name for s in specs]
    status = estate_status(config, catalog, now + timedelta(minutes=1))
    assert len(status.health.apps) == 12 and status.facts[specs[0].name].backup_count > 0


def test_the_dashboard_queries_are_measured_through_the_api(
    catalog_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = _bench(monkeypatch, "catalog_history")
    queries = _bench(monkeypatch, "dashboard_queries")
    url = f"{PG_URL}/{catalog_db}"
    history.build_history(url, apps=6, days=30)
    config = history.write_config(tmp_path / "dr.toml", url, history.plan_apps(6))
    figures = queries.measure(url, config, repeats=2, warmup=1)
    assert set(figures) == {name for name, *_ in queries.QUERIES}
    for f in figures.values():
        assert f["uncached"]["n"] == 2 and f["cached"]["n"] + f["cached_misses"] == 2
        assert f["answer_bytes"] > 0
    assert figures["backupsPage20"]["answer_bytes"] > 0
