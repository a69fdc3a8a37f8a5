"""The alert sensor watches every protected server's replication slot itself: the slot
fills precisely while its streamer is down, so the streamer cannot be the only watcher.
Its alert (and any other opened outside the sensor, such as a WAL conflict) is delivered
to the webhooks with the sensor's own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from dr_assets.core.wal.preflight import check_server
from dr_assets.core.wal.slot_watch import SLOT_FILLING, WAL_CONFLICT, alert_app
from dr_assets.defs.resources import DRResource
from dr_assets.defs.sensors import alert_sensor
from dr_assets.devstack import seaweed
from tests.support.pitr import pitr_environment
from tests.support.webhook import Webhook


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


def test_a_filling_slot_with_no_streamer_is_alerted_and_delivered(
        tmp_path: Path, s3_server: seaweed.SeaweedServer, catalog_db: str, instances_dir: Path,
        webhook: Webhook) -> None:
    with pitr_environment(tmp_path, s3_server, catalog_db, instances_dir,
                          server_extra="slot_alert_gb = 0.01") as env:
        with env.config_path.open("a") as fh:
            fh.write(f'\n[[alerts.webhooks]]\nurl = "{webhook.url}"\n')
        rt = env.env.runtime()
        check_server(rt.config.server("main"))  # the slot exists; no streamer ever runs
        context = dg.build_sensor_context(
            instance=dg.DagsterInstance.ephemeral(),
            resources={"dr": DRResource(config_path=str(env.config_path))})
        alert_sensor(context)
        assert not [a for a in rt.catalog.open_alerts() if a.kind == SLOT_FILLING]
        env.sql("INSERT INTO ticks (note) SELECT repeat('w', 1500) FROM generate_series(1, 12000)")
        # an alert another process opened (the streamer's conflict): delivered by the sensor
        rt.catalog.open_alert(alert_app("main"), WAL_CONFLICT, "critical", "main: conflict")
        alert_sensor(context)
        [slot] = [a for a in rt.catalog.open_alerts() if a.kind == SLOT_FILLING]
        assert slot.app == "server:main" and "retains" in slot.message
        assert slot.delivered_at is not None
        posted = {(b["alert"]["kind"], b["event"]) for b in webhook.received}
        assert {(SLOT_FILLING, "opened"), (WAL_CONFLICT, "opened")} <= posted
        alert_sensor(context)  # nothing new: nothing posted twice
        assert len([b for b in webhook.received if b["alert"]["kind"] == WAL_CONFLICT]) == 1
