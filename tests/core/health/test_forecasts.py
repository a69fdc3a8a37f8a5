"""The estate's forecasts from a real catalog (PostgreSQL): drills slowing towards the RTO,
dumps growing, storage held counted back through retention's deletions towards the quota,
a slot's samples towards its limit; and the alert sensor opening the forecast alerts ahead
of time and resolving them when the trend turns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dr_assets.core.catalog import Catalog
from dr_assets.core.health.alerting import forecast_conditions
from dr_assets.core.health.forecasts import (
    GIB,
    RTO_FORECAST,
    SLOT_FORECAST,
    STORAGE_FORECAST,
    estate_forecast,
)
from dr_assets.core.policy import load_config
from tests.support.pg import PG_URL, run_sql

NOW = datetime.now(UTC).replace(microsecond=0)
MB = 1 << 20


def catalog_config(tmp_path: Path, catalog_db: str, extra: str = "") -> Path:
    (tmp_path / "master.key").write_bytes(b"k" * 32)
    path = tmp_path / "dr.toml"
    path.write_text(f"""
[catalog]
database_url = "{PG_URL}/{catalog_db}"
[encryption]
key_file = "master.key"
[[destinations]]
name = "local"
kind = "local"
path = "backups"
[apps.shop]
database_url = "postgresql://postgres@127.0.0.1:5432/postgres"
rto_hours = 1
rpo_hours = 24
every_hours = 24
retention_days = 30
[apps.ledger]
database_url = "postgresql://postgres@127.0.0.1:5432/postgres"
rto_hours = 8
rpo_hours = 24
every_hours = 24
retention_days = 30
{extra}
""")
    return path


def drills(catalog_db: str, app: str, seconds_at: list[tuple[int, float]]) -> None:
    run_sql(catalog_db, "INSERT INTO dr.drills (app, scratch_database, status, started_at,"
            " finished_at, restore_seconds, rto_seconds, rto_met) VALUES " + ",".join(
                f"('{app}', 'scratch', 'passed', now() - interval '{d} days 1 minute',"
                f" now() - interval '{d} days', {s}, 3600, {str(s <= 3600).lower()})"
                for d, s in seconds_at))


def backups(catalog_db: str, app: str, days: int, mb_per_day: float, keep_days: int) -> None:
    """One backup a day for `days`, growing; those older than `keep_days` deleted by
    retention `keep_days` after they started."""
    run_sql(catalog_db, f"""
        INSERT INTO dr.backups (backup_id, app, status, started_at, finished_at, stored_bytes,
                                deleted_at)
        SELECT '{app}-' || d, '{app}',
               CASE WHEN d > {keep_days} THEN 'deleted' ELSE 'completed' END,
               now() - make_interval(days => d), now() - make_interval(days => d),
               ((100 + ({days} - d) * {mb_per_day}) * {MB})::bigint,
               CASE WHEN d > {keep_days} THEN now() - make_interval(days => d - {keep_days}) END
        FROM generate_series(1, {days}) d""")


def test_the_estate_forecast_from_the_catalog(tmp_path: Path, catalog_db: str) -> None:
    config = load_config(catalog_config(tmp_path, catalog_db,
                                        "[storage]\nquota_gb = 20\n"))
    catalog = Catalog(config.catalog_url)
    catalog.ensure()
    # shop: 2,400 s now, 50 s slower a day: its 1 h RTO in 24 days; ledger steady at 600 s
    drills(catalog_db, "shop", [(d, 2400 - 50 * d) for d in range(1, 40, 2)])
    drills(catalog_db, "ledger", [(d, 600 + (d % 3)) for d in range(1, 80, 4)])
    backups(catalog_db, "shop", 120, 2.0, 30)
    backups(catalog_db, "ledger", 120, 0.0, 30)
    before = catalog.forecast_history(["shop"], [], NOW, timedelta(days=90))
    assert len(before.restore["shop"]) <= 32 and before.stored_now["shop"] > 0

    f = estate_forecast(config, catalog, NOW)
    shop = f.apps["shop"]
    assert shop.restore is not None and shop.restore.limit == 3600
    assert shop.restore.slope_per_day == pytest.approx(50, rel=0.05)
    assert shop.restore.crosses_on is not None
    assert 22 <= (shop.restore.crosses_on - NOW.date()).days <= 26
    ledger = f.apps["ledger"]
    assert ledger.restore is not None and ledger.restore.crosses_on is None
    assert shop.dump_size is not None and shop.dump_size.slope_per_day == pytest.approx(2 * MB,
                                                                                      rel=0.05)
    # 30 backups held per app at any time: the held bytes grow 30 x 2 MB a day for shop
    assert shop.storage is not None and shop.storage.slope_per_day == pytest.approx(60 * MB,
                                                                                  rel=0.1)
    held = run_sql(catalog_db, "SELECT sum(stored_bytes) FROM dr.backups WHERE status ="
                               " 'completed'")[0][0]
    assert f.storage is not None and f.storage.now_value == pytest.approx(float(held), rel=0.05)
    assert f.storage.limit == 20 * GIB and f.storage.crosses_on is None  # far off
    kinds = {(c.app, c.kind) for c in forecast_conditions(config.apps, f)}
    assert kinds == {("shop", RTO_FORECAST)}

    config = load_config(catalog_config(tmp_path, catalog_db,
                                        "[storage]\nquota_gb = 11\n[forecasts]\n"
                                        "alert_days_ahead = 60\n"))
    f = estate_forecast(config, catalog, NOW)
    assert f.storage is not None and f.storage.crosses_on is not None
    kinds = {(c.app, c.kind) for c in forecast_conditions(config.apps, f)}
    assert ("*", STORAGE_FORECAST) in kinds


def test_slot_samples_forecast_the_slot_filling_its_limit(tmp_path: Path, catalog_db: str
                                                          ) -> None:
    extra = ("[servers.main]\nurl = \"postgresql://postgres@127.0.0.1:5432/postgres\"\n"
             "slot_alert_gb = 1\n")
    config = load_config(catalog_config(tmp_path, catalog_db, extra))
    catalog = Catalog(config.catalog_url)
    catalog.ensure()
    keep = timedelta(days=config.forecasts.window_days)
    for d in range(20, -1, -1):  # 20 MiB more a day, 600 MiB now: 1 GiB in about 21 days
        catalog.record_slot_sample("main", NOW - timedelta(days=d), (600 - 20 * d) * MB,
                                   None, keep)
    catalog.record_slot_sample("main", NOW - timedelta(days=200), 1, None, keep)  # too old
    catalog.record_slot_sample("main", NOW + timedelta(seconds=1), 600 * MB, None, keep)
    assert run_sql(catalog_db, "SELECT count(*) FROM dr.slot_samples") == [(22,)]
    f = estate_forecast(config, catalog, NOW + timedelta(seconds=2))
    line = f.slots["main"]
    assert line is not None and line.limit == GIB
    assert line.crosses_on is not None and 18 <= (line.crosses_on - NOW.date()).days <= 24
    [c] = forecast_conditions(config.apps, f)
    assert (c.app, c.kind) == ("server:main", SLOT_FORECAST) and "1.00 GiB" in c.message
