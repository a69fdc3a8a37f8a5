"""The forecasts over GraphQL: an app's `forecast` (viewer) with its restore time towards
the RTO, and the estate's `storageForecast`; anonymous callers are refused both. The same
figures on /metrics."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx

from tests.support.api import data, gql
from tests.support.pg import run_sql
from tests.support.stack import Stack

FORECAST = """{ app(name: "shop") { name forecast { restoreSeconds restoreSlopeSecondsPerDay
  rtoSeconds rtoCrossesOn dumpBytes storageBytes restore { metric points limit crossesOn
  start end } } } }"""


def test_an_apps_forecast_and_the_storage_forecast(stack: Stack) -> None:
    # drills in the past weeks slowing 200 s a day, none yet over the RTO
    run_sql(stack.catalog_db, "INSERT INTO dr.drills (app, scratch_database, status,"
            " started_at, finished_at, restore_seconds, rto_seconds, rto_met) SELECT 'shop',"
            " 'scratch', 'passed', now() - make_interval(days => d), now() - make_interval("
            "days => d), 9000 - 200 * d, 14400, true FROM generate_series(2, 40, 2) d")
    viewer = stack.token("viewer")
    app = data(stack, FORECAST, token=viewer)["app"]
    f = app["forecast"]
    assert f["rtoSeconds"] == 14400 and f["restore"]["metric"] == "restore_seconds"
    assert 180 <= f["restoreSlopeSecondsPerDay"] <= 220 and f["restore"]["points"] >= 3
    crosses = date.fromisoformat(f["rtoCrossesOn"])
    assert timedelta(days=20) <= crosses - datetime.now(UTC).date() <= timedelta(days=32)
    assert f["restore"]["limit"] == 14400

    refused = gql(stack, FORECAST).json()
    assert refused["errors"] and "viewer" in refused["errors"][0]["message"]

    storage = data(stack, """{ storageForecast { storageBytes slopeBytesPerDay quotaBytes
        quotaCrossesOn alertDaysAhead slots { server fillsOn } line { metric } } }""",
                   token=viewer)["storageForecast"]
    assert storage["alertDaysAhead"] == 30
    assert storage["line"] is None or storage["line"]["metric"] == "stored_bytes"
    assert "errors" in gql(stack, "{ storageForecast { storageBytes } }").json()

    metrics = httpx.get(f"{stack.api_url}/metrics", timeout=30).text
    assert 'dr_forecast_restore_seconds{app="shop"}' in metrics
    days = float(metrics.split('dr_forecast_rto_crosses_days{app="shop"} ')[1].split()[0])
    assert 20 <= days <= 32

    # The status page's restore-time picture draws the same forecast, dashed, from the
    # start of its window.
    svg = httpx.get(f"{stack.api_url}/status/apps/shop/restore-time.svg?days=30",
                    timeout=30).text
    assert 'class="forecast"' in svg and "data-forecast-end=" in svg
    drawn_to = float(svg.split('data-forecast-end-value="')[1].split('"')[0])
    assert drawn_to > 9000  # the line rises past today's drills towards the RTO
