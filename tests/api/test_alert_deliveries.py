"""alertDeliveries: every attempt to deliver an alert, for viewers, as the dispatcher
recorded it against a real receiver (a 500, then the retry's 200)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from dr_assets.core.delivery.dispatch import dispatch_due, retry_delay
from dr_assets.core.policy import ChannelConfig
from dr_assets.core.runtime import DRRuntime
from tests.support.api import data, gql
from tests.support.receivers import Receiver
from tests.support.stack import Stack

QUERY = """query($id: Int!) { alertDeliveries(alertId: $id) {
    channel event at ok statusCode error } }"""


def test_alert_deliveries_list_each_attempt(stack: Stack) -> None:
    rt = DRRuntime.load(str(stack.config_path))
    receiver = Receiver([500])
    try:
        cfg = replace(rt.config, channels=(ChannelConfig("oncall", "webhook", url=receiver.url),))
        alert_id = rt.catalog.open_alert("shop", "delivery_api_test", "warning", "shop: test")
        assert alert_id is not None
        now = datetime.now(UTC)
        dispatch_due(cfg, rt.catalog, now)
        dispatch_due(cfg, rt.catalog, now + retry_delay(1))
    finally:
        receiver.close()
        if alert_id is not None:
            rt.catalog.resolve_alert(alert_id)
    rows = data(stack, QUERY, {"id": alert_id}, stack.token("viewer"))["alertDeliveries"]
    assert [(r["channel"], r["event"], r["ok"], r["statusCode"]) for r in rows] == [
        ("oncall", "opened", False, 500), ("oncall", "opened", True, 200)]
    assert rows[0]["error"].endswith("HTTP 500") and rows[1]["error"] is None
    assert "secret-token" not in rows[0]["error"]
    refused = gql(stack, QUERY, {"id": alert_id}).json()
    assert refused.get("errors") and not (refused.get("data") or {}).get("alertDeliveries")
