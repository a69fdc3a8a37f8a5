"""An app on a protected server: its RPO in effect is its server's WAL age, as recorded by the
streamer, everywhere it is shown (health, the alert sensor, GraphQL, /metrics); its
recoverable window comes from the stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import httpx
import pytest

from dr_assets.core.health.alerting import RPO_VIOLATED
from dr_assets.core.health.estate import estate_status
from dr_assets.core.health.scores import rpo_summary
from dr_assets.core.runtime import DRRuntime
from dr_assets.defs.resources import DRResource
from dr_assets.defs.sensors import alert_sensor
from tests.support.pitr import PitrEnv
from tests.support.stack import JWT_SECRET, start_api

SEGMENT = "000000010000000000000003"
APPS = ("{ apps { name protection rpoSeconds rpoMet backupAgeHours "
        "recoveryWindow { server earliest latest } } }")


def record_wal(rt: DRRuntime, received_at: datetime) -> None:
    """The row the streamer writes once every destination holds a partial segment."""
    rt.catalog.record_wal_file("main", f"{SEGMENT}.partial", "partial", 1, received_at,
                               16 << 20, "0" * 64, ["s3", "local"], written_bytes=4096)


def test_wal_age_is_the_rpo_of_a_protected_app(pitr_env: PitrEnv,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DR_JWT_SECRET", JWT_SECRET)
    rt = pitr_env.env.runtime()
    record_wal(rt, datetime.now(UTC))
    shop = next(a for a in estate_status(rt.config, rt.catalog).health.apps if a.app == "shop")
    # rpo_fresh passes with no dump at all: the WAL is seconds old
    assert shop.rpo_met and shop.protection == "wal" and shop.backup_age_hours is None
    assert shop.rpo_seconds is not None and shop.rpo_seconds < 60
    assert "newest WAL of server main" in rpo_summary(rt.config.apps["shop"], shop)

    api = start_api(pitr_env.config_path)
    try:
        [app] = httpx.post(f"{api.url}/graphql", json={"query": APPS}, timeout=30
                           ).json()["data"]["apps"]
        assert app["protection"] == "wal" and app["rpoMet"] and app["rpoSeconds"] < 60
        # nothing is in the stores yet: the window is computed from them, not assumed
        assert app["recoveryWindow"] == {"server": "main", "earliest": None, "latest": None}
        metrics = httpx.get(f"{api.url}/metrics", timeout=30).text
        assert 'dr_rpo_seconds{app="shop",protection="wal"}' in metrics
    finally:
        api.stop()

    # The newest WAL two hours old against an RPO of one hour: violated, and alerted.
    pitr_env.config_path.write_text(
        pitr_env.config_path.read_text().replace("rpo_hours = 24", "rpo_hours = 1"))
    record_wal(rt, datetime.now(UTC) - timedelta(hours=2))
    strict = DRRuntime.load(str(pitr_env.config_path))
    shop = next(a for a in estate_status(strict.config, strict.catalog).health.apps
                if a.app == "shop")
    assert not shop.rpo_met and shop.rpo_part == 0
    alert_sensor(dg.build_sensor_context(
        instance=dg.DagsterInstance.ephemeral(),
        resources={"dr": DRResource(config_path=str(pitr_env.config_path))}))
    [alert] = [a for a in strict.catalog.open_alerts() if a.kind == RPO_VIOLATED]
    assert alert.app == "shop" and "rpo_seconds 720" in alert.message, alert.message
    assert "over the policy's 3600" in alert.message
