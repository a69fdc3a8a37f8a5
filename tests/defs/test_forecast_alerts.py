"""The alert sensor opens rto_forecast ahead of time (the drills slow towards the RTO, which
no drill has reached yet) and resolves it by itself once the trend turns."""

from __future__ import annotations

import dagster as dg

from dr_assets.core.health.forecasts import RTO_FORECAST
from dr_assets.defs.resources import DRResource
from dr_assets.defs.sensors import alert_sensor
from tests.support.env import DREnv
from tests.support.pg import run_sql


def test_a_restore_time_forecast_over_the_rto_is_alerted_then_resolved(dr_env: DREnv) -> None:
    rt = dr_env.runtime()
    rt.catalog.ensure()
    # shop's RTO is 4 h (14,400 s): 12,000 s now, 150 s slower a day: reached in 16 days
    run_sql(dr_env.catalog_db, "INSERT INTO dr.drills (app, scratch_database, status,"
            " started_at, finished_at, restore_seconds, rto_seconds, rto_met) SELECT 'shop',"
            " 'scratch', 'passed', now() - make_interval(days => d), now() - make_interval("
            "days => d), 12000 - 150 * d, 14400, true FROM generate_series(1, 60, 3) d")
    context = dg.build_sensor_context(
        instance=dg.DagsterInstance.ephemeral(),
        resources={"dr": DRResource(config_path=str(dr_env.config_path))})
    alert_sensor(context)
    [alert] = [a for a in rt.catalog.open_alerts() if a.kind == RTO_FORECAST]
    assert alert.app == "shop" and alert.severity == "warning"
    assert "forecast to reach the RTO of 4 h" in alert.message and "(1" in alert.message
    alert_sensor(context)  # still holding: the same alert, not a second one
    assert len([a for a in rt.catalog.open_alerts() if a.kind == RTO_FORECAST]) == 1

    run_sql(dr_env.catalog_db, "UPDATE dr.drills SET restore_seconds = 3000 + extract(epoch"
            " FROM now() - finished_at) / 86400 * 20")  # faster again, and still improving
    alert_sensor(context)
    assert not [a for a in rt.catalog.open_alerts() if a.kind == RTO_FORECAST]
