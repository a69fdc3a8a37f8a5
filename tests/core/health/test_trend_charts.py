"""What the trend pictures draw from the history: the app's RTO as the restore-time limit,
failed drills and anomalous or held backups marked, the storage quota as a limit or a note
saying there is none, and a forecast passed through to be drawn."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from dr_assets.core.catalog.history import BackupSize, DrillTime, StorageDay
from dr_assets.core.errors import ReportError
from dr_assets.core.forecasting.line import ForecastLine
from dr_assets.core.health.trend_charts import (
    BACKUP_SIZES,
    NO_QUOTA,
    RESTORE_TIME,
    STORAGE,
    trend_inputs,
)
from dr_assets.core.policy import DRConfig, load_config

REPO = Path(__file__).resolve().parents[3]
START, END = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 31, 12, tzinfo=UTC)


@pytest.fixture
def config(monkeypatch: pytest.MonkeyPatch) -> DRConfig:
    monkeypatch.delenv("DR_CATALOG_URL", raising=False)
    return load_config(REPO / "dr.toml")


def test_restore_times_against_the_rto(config: DRConfig) -> None:
    drills = [DrillTime(1, "scholarship_api", datetime(2026, 10, 5, tzinfo=UTC), "passed", 300.0,
                        14400.0),
              DrillTime(2, "scholarship_api", datetime(2026, 10, 9, tzinfo=UTC), "failed", 90.0,
                        14400.0)]
    forecast = ForecastLine("restore_seconds", START, 300.0, END, 500.0, 480.0, 6.0, 2,
                            14400.0, None)
    c = trend_inputs(RESTORE_TIME, config, START, END, app="scholarship_api", drills=drills,
                     forecast=forecast)
    assert c.limit is not None and c.limit.value == 4 * 3600 and c.limit.label == "RTO"
    assert [(p.value, p.ref, p.anomaly) for p in c.points] == [
        (300.0, "drill, passed", None), (90.0, "drill, failed", "the drill failed")]
    assert c.forecast is forecast and c.subject == "scholarship_api"


def test_backup_sizes_mark_anomalies_and_holds(config: DRConfig) -> None:
    at = datetime(2026, 10, 5, tzinfo=UTC)
    backups = [BackupSize("a", "scholarship_api", at, 1000, None, False),
               BackupSize("b", "scholarship_api", at, 900, [], True),
               BackupSize("c", "scholarship_api", at, 10, [{"rule": "size_dropped"},
                                                           {"rule": "rows_dropped"}], False)]
    c = trend_inputs(BACKUP_SIZES, config, START, END, app="scholarship_api", backups=backups)
    assert [p.anomaly for p in c.points] == [None, "held from retention",
                                             "rows_dropped, size_dropped"]
    assert c.limit is None and c.kind == "bytes"


def test_storage_against_the_quota_or_saying_there_is_none(config: DRConfig) -> None:
    days = [StorageDay(date(2026, 10, 30), 5 << 30), StorageDay(date(2026, 10, 31), 6 << 30)]
    bare = trend_inputs(STORAGE, config, START, END, storage=days)
    assert config.storage_quota_bytes is None
    assert bare.limit is None and bare.note == NO_QUOTA
    assert [p.at for p in bare.points] == [datetime(2026, 10, 30, 23, 59, 59, tzinfo=UTC), END]
    quota = trend_inputs(STORAGE, replace(config, storage_quota_bytes=10 << 30), START, END,
                         storage=days)
    assert quota.limit is not None and quota.limit.value == 10 << 30 and quota.note is None


def test_unknown_charts_and_apps_are_refused(config: DRConfig) -> None:
    with pytest.raises(ReportError, match="no trend chart named 'pie'"):
        trend_inputs("pie", config, START, END, app="scholarship_api")
    with pytest.raises(ReportError, match="drawn for an app in dr.toml"):
        trend_inputs(RESTORE_TIME, config, START, END, app="nope")
